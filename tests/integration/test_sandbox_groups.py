"""The sandbox's Microsoft 365 groups and directory changes over time, in Graph's documented
shapes: list/filter/search groups, transitiveMembers with nested groups and paging, the
permission check, another tenant's group as not found, joiners and leavers in the user list."""

from __future__ import annotations

from server.sandbox import identity_state
from server.sandbox.directory import DEMO_USERS, OTHER_TENANT_ID
from server.sandbox.directory_changes import EMEA_GROUP, OTHER_GROUP, SALES_GROUP
from server.sandbox.identity_state import GRAPH_RESOURCE

ALEX, BIANCA, CHEN, DANA = DEMO_USERS[:4]
OLGA = next(u for u in DEMO_USERS if u.tenant_id == OTHER_TENANT_ID)


def _token(sandbox, user=ALEX, scopes=("GroupMember.Read.All", "User.ReadBasic.All")) -> str:
    with sandbox.app.app_context():
        token, _ = identity_state.access_token(
            identity_state.state(),
            sandbox.url,
            user,
            "courier-dev-client",
            GRAPH_RESOURCE,
            list(scopes),
        )
    return token


def _get(sandbox, path, token=None, **headers):
    token = token or _token(sandbox)
    return sandbox.http.get(
        f"{sandbox.url}/graph/v1.0{path}" if path.startswith("/") else path,
        headers={"Authorization": f"Bearer {token}", **headers},
        timeout=30,
    )


def test_groups_filter_and_search(sandbox):
    listed = _get(sandbox, "/groups?$filter=groupTypes/any(c:c eq 'Unified')")
    assert listed.status_code == 200
    names = [x["displayName"] for x in listed.json()["value"]]
    assert names == ["Sales EMEA", "Sales team", "Support"]  # only this tenant's
    assert all(x["groupTypes"] == ["Unified"] for x in listed.json()["value"])
    started = _get(
        sandbox,
        "/groups?$filter=groupTypes/any(c:c eq 'Unified') and startswith(displayName,'sales t')",
    )
    assert [x["id"] for x in started.json()["value"]] == [SALES_GROUP]
    # $search needs the advanced-query header, as Graph documents.
    refused = _get(sandbox, '/groups?$search="displayName:emea"')
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "Request_UnsupportedQuery"
    found = _get(sandbox, '/groups?$search="displayName:emea"', ConsistencyLevel="eventual")
    assert [x["id"] for x in found.json()["value"]] == [EMEA_GROUP]
    bad = _get(sandbox, "/groups?$filter=mail eq 'x'")
    assert bad.status_code == 400


def test_transitive_members_expand_nested_groups_and_page(sandbox):
    first = _get(sandbox, f"/groups/{SALES_GROUP}/transitiveMembers?$top=2")
    assert first.status_code == 200
    body = first.json()
    items = list(body["value"])
    assert len(items) == 2 and "@odata.nextLink" in body
    while "@odata.nextLink" in body:
        body = _get(sandbox, body["@odata.nextLink"]).json()
        items += body["value"]
    users = {x["id"] for x in items if x["@odata.type"] == "#microsoft.graph.user"}
    groups = {x["id"] for x in items if x["@odata.type"] == "#microsoft.graph.group"}
    assert users == {BIANCA.object_id, CHEN.object_id, DANA.object_id}  # Dana via Sales EMEA
    assert groups == {EMEA_GROUP}


def test_permission_and_tenant_checks(sandbox):
    without = _token(sandbox, scopes=("Mail.Read",))
    refused = _get(sandbox, "/groups", token=without)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "Authorization_RequestDenied"
    other = _get(sandbox, f"/groups/{OTHER_GROUP}/transitiveMembers")
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "Request_ResourceNotFound"
    olgas = _get(sandbox, f"/groups/{OTHER_GROUP}", token=_token(sandbox, OLGA))
    assert olgas.json()["displayName"] == "Northwind sales"


def test_joiners_and_leavers_change_users_and_groups(sandbox):
    joined = sandbox.control(
        "/_sandbox/directory/users",
        {"display_name": "Farah Joiner", "email": "farah@courier-demo.test"},
    )
    sandbox.control(f"/_sandbox/directory/groups/{SALES_GROUP}/members", {"id": joined["id"]})
    sandbox.control(f"/_sandbox/directory/users/{CHEN.object_id}", method="DELETE")
    people = {
        x["id"] for x in _get(sandbox, "/users?$top=999", token=_token(sandbox)).json()["value"]
    }
    assert joined["id"] in people and CHEN.object_id not in people
    gone = _get(sandbox, f"/users/{CHEN.object_id}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "ErrorInvalidUser"
    members = _get(sandbox, f"/groups/{SALES_GROUP}/transitiveMembers").json()["value"]
    ids = {x["id"] for x in members}
    assert joined["id"] in ids and CHEN.object_id not in ids
    sandbox.control(
        f"/_sandbox/directory/groups/{SALES_GROUP}/members/{BIANCA.object_id}", method="DELETE"
    )
    members = _get(sandbox, f"/groups/{SALES_GROUP}/transitiveMembers").json()["value"]
    assert BIANCA.object_id not in {x["id"] for x in members}
    sandbox.reset()  # a reset brings the starting directory back
    people = {x["id"] for x in _get(sandbox, "/users?$top=999").json()["value"]}
    assert CHEN.object_id in people and joined["id"] not in people
