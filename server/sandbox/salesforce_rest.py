"""The sandbox Salesforce's REST resources as plain functions over an org (no Flask here).

`dispatch(state, org, method, path, params, body)` answers one REST request (path relative to
/services/data/vXX.X/) with (status, body); the HTTP layer and Composite both call it.
"""

from __future__ import annotations

import secrets
from typing import Any

from .salesforce_dml import create, update
from .salesforce_soql import Query, like_regex, parse_soql, parse_sosl
from .salesforce_store import (
    API_VERSION,
    FIELDS,
    PREFIXES,
    TYPE_BY_PREFIX,
    Org,
    SalesforceError,
    SalesforceState,
)

BASE = f"/services/data/v{API_VERSION}"
SEARCH_FIELDS = {
    "NAME": ("Name",),
    "EMAIL": ("Email", "Alternate_Email__c", "Other_Email__c"),
    "ALL": ("Name", "Email", "Alternate_Email__c", "Other_Email__c", "Company", "Title", "Website"),
}


def _field_getter(org: Org, record: dict[str, Any]):
    def get(name: str) -> Any:
        if name in record:  # the usual case: the name as the schema spells it
            return record[name]
        if "." in name:
            relation, rest = name.split(".", 1)
            parent = _parent(org, record, relation)
            return _field_getter(org, parent)(rest) if parent else None
        lowered = name.lower()  # SOQL names are case-insensitive
        return next((v for k, v in record.items() if k.lower() == lowered), None)

    return get


def _parent(org: Org, record: dict[str, Any], relation: str) -> dict[str, Any] | None:
    exact = f"{relation}Id"
    if exact in record:
        id_field: str | None = exact
    else:
        id_field = next((k for k in record if k.lower() == exact.lower()), None)
    target = record.get(id_field) if id_field else None
    found = org.find(target) if target else None
    return found[1] if found else None


def _check_fields(sobject: str, names: list[str]) -> None:
    allowed = {f.lower() for f in FIELDS.get(sobject, set())} | {"id", "name", "isclosed"}
    allowed |= {"createddate", "isconverted", "lastactivitydate", "tocontactids"}
    for name in names:
        head = name.split(".", 1)[0].lower()
        if "." in name:
            if f"{head}id" not in allowed:
                raise SalesforceError(
                    400, "INVALID_FIELD", f"Didn't understand relationship '{head}'"
                )
        elif head not in allowed:
            raise SalesforceError(
                400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'."
            )


def render(org: Org, sobject: str, record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {"type": sobject, "url": f"{BASE}/sobjects/{sobject}/{record['Id']}"}
    }
    get = _field_getter(org, record)
    for name in fields:
        if "." in name:
            relation, rest = name.split(".", 1)
            parent = _parent(org, record, relation)
            if parent is None:
                out[relation] = None
                continue
            parent_type = TYPE_BY_PREFIX[parent["Id"][:3]]
            nested = out.get(relation) or render(org, parent_type, parent, [])
            nested[rest] = _field_getter(org, parent)(rest)
            out[relation] = nested
        else:
            canonical = next((k for k in record if k.lower() == name.lower()), name)
            out[canonical] = get(name)
    return out


def select(org: Org, query: Query) -> list[dict[str, Any]]:
    if query.sobject not in PREFIXES or query.sobject in ("Organization",):
        raise SalesforceError(
            400, "INVALID_TYPE", f"sObject type '{query.sobject}' is not supported."
        )
    _check_fields(query.sobject, query.fields)
    for sub in query.subqueries:
        _check_fields(sub.query.sobject, sub.query.fields)
        sub.values = set()
        inner_table = org.table(sub.query.sobject)
        for row in inner_table.values():
            get = _field_getter(org, row)
            if sub.query.where is None or sub.query.where(get):
                value = get(sub.query.fields[0])
                sub.values.add(value.lower() if isinstance(value, str) else value)
    table = org.users if query.sobject == "User" else org.table(query.sobject)
    rows = [r for r in table.values() if query.where is None or query.where(_field_getter(org, r))]
    for name, descending in reversed(query.order_by):
        rows.sort(
            key=lambda r, n=name: (
                _field_getter(org, r)(n) is None,
                _field_getter(org, r)(n) or "",
            ),
            reverse=descending,
        )
    if query.limit is not None:
        rows = rows[: query.limit]
    return [render(org, query.sobject, r, query.fields) for r in rows]


def run_query(
    state: SalesforceState, org: Org, soql: str, batch_size: int | None
) -> dict[str, Any]:
    records = select(org, parse_soql(soql))
    return _page(state, org, records, batch_size or state.default_batch_size)


def _page(state: SalesforceState, org: Org, records: list[dict], batch: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "totalSize": len(records),
        "done": len(records) <= batch,
        "records": records[:batch],
    }
    if len(records) > batch:
        locator = "01g" + secrets.token_hex(8)
        state.cursors[locator] = {
            "org": org.org_id,
            "records": records,
            "batch": batch,
            "total": len(records),
        }
        body["nextRecordsUrl"] = f"{BASE}/query/{locator}-{batch}"
    return body


def query_more(state: SalesforceState, org: Org, locator_and_offset: str) -> dict[str, Any]:
    locator, _, offset = locator_and_offset.partition("-")
    cursor = state.cursors.get(locator)
    if cursor is None or cursor["org"] != org.org_id or not offset.isdigit():
        raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    start, batch = int(offset), cursor["batch"]
    records = cursor["records"][start : start + batch]
    done = start + batch >= cursor["total"]
    body: dict[str, Any] = {"totalSize": cursor["total"], "done": done, "records": records}
    if not done:
        body["nextRecordsUrl"] = f"{BASE}/query/{locator}-{start + batch}"
    else:
        state.cursors.pop(locator, None)
    return body


def run_search(org: Org, sosl: str) -> dict[str, Any]:
    search = parse_sosl(sosl)
    words = [w.replace("*", "") for w in search.text.split() if w.replace("*", "")]
    patterns = [like_regex(f"%{w}%") for w in words]
    results: list[dict[str, Any]] = []
    for query in search.returning:
        base_where = query.where

        def matches(get, base_where=base_where) -> bool:
            if base_where is not None and not base_where(get):
                return False
            text = " ".join(str(get(f) or "") for f in SEARCH_FIELDS.get(search.scope, ()))
            return all(p.match(text) for p in patterns)

        scoped = Query(query.sobject, query.fields, matches, query.order_by, query.limit)
        results.extend(select(org, scoped))
    if search.limit is not None:
        results = results[: search.limit]
    return {"searchRecords": results[:2000]}


def dispatch(
    state: SalesforceState, org: Org, method: str, path: str, params: dict[str, str], body: Any
) -> tuple[int, Any]:
    """One REST request → (status, body). Errors come back in Salesforce's error shape."""
    from .salesforce_composite import collection, composite, delete_collection
    from .salesforce_dml import delete

    parts = [p for p in path.split("/") if p]
    try:
        if parts == ["query"] and method == "GET":
            batch = int(params["batchSize"]) if params.get("batchSize") else None
            return 200, run_query(state, org, params.get("q", ""), batch)
        if len(parts) == 2 and parts[0] == "query" and method == "GET":
            return 200, query_more(state, org, parts[1])
        if parts == ["search"] and method == "GET":
            return 200, run_search(org, params.get("q", ""))
        if parts == ["composite", "sobjects"] and method in ("POST", "PATCH"):
            return 200, collection(state, org, method, body or {})
        if parts == ["composite", "sobjects"] and method == "DELETE":
            ids = [i for i in params.get("ids", "").split(",") if i]
            return 200, delete_collection(org, ids)
        if len(parts) == 3 and parts[0] == "sobjects" and method == "DELETE":
            found = org.find(parts[2])
            if found is None or found[0] != parts[1]:
                raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
            delete(org, parts[1], parts[2])
            return 204, None
        if parts == ["composite"] and method == "POST":
            return 200, composite(state, org, body or {})
        if len(parts) == 2 and parts[0] == "sobjects" and method == "POST":
            return 201, {"id": create(org, parts[1], body or {}), "success": True, "errors": []}
        if len(parts) == 3 and parts[0] == "sobjects" and method == "PATCH":
            update(org, parts[1], parts[2], body or {})
            return 204, None
        if len(parts) == 3 and parts[0] == "sobjects" and method == "GET":
            found = org.find(parts[2])
            if found is None or found[0] != parts[1]:
                raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
            fields = params.get("fields", "").split(",") if params.get("fields") else list(found[1])
            return 200, render(org, found[0], found[1], fields)
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
    except SalesforceError as error:
        return error.status, error.body()
