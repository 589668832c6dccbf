"""Push rules: the spec's predefined rules plus the user's changes."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, empty, json_body, json_response, requester, require, route, services

RULE = "/pushrules/global/{kind}/{ruleId}"


@route("GET", *client_paths("/pushrules/"), *client_paths("/pushrules"))
async def get_push_rules(request: Request) -> Response:
    """GET /_matrix/client/v3/pushrules/

    - {"global": ruleset}: the predefined rules with the user's changes, in priority order.
    - Served with and without the trailing slash (js-sdk asks with it; a 404 blocks its sync).
    """
    who = await requester(request)
    return json_response({"global": await services(request).userdata.push_ruleset(who.user_id)})


@route("GET", *client_paths("/pushrules/global/"), *client_paths("/pushrules/global"))
async def get_global_push_rules(request: Request) -> Response:
    """GET /_matrix/client/v3/pushrules/global/

    - The `global` ruleset on its own.
    """
    who = await requester(request)
    return json_response(await services(request).userdata.push_ruleset(who.user_id))


@route("GET", *client_paths(RULE))
async def get_push_rule(request: Request) -> Response:
    """GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}

    - One rule; 404 M_NOT_FOUND if there is none with that ID in that kind.
    """
    who = await requester(request)
    params = request.path_params
    return json_response(await services(request).userdata.get_push_rule(who.user_id, params["kind"], params["ruleId"]))


@route("PUT", *client_paths(RULE))
async def put_push_rule(request: Request) -> Response:
    """PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}

    - Creates (enabled, first among the user's rules of the kind) or replaces a user-defined rule.
    - `before`/`after` place it next to another user-defined rule; never next to a predefined one.
    - Rule IDs starting with '.' or containing '/' or '\\' are refused with 400 M_INVALID_PARAM.
    """
    who = await requester(request)
    body = await json_body(request)
    params = request.path_params
    await services(request).userdata.put_push_rule(
        who.user_id, params["kind"], params["ruleId"], body,
        request.query_params.get("before"), request.query_params.get("after"))
    return empty()


@route("DELETE", *client_paths(RULE))
async def delete_push_rule(request: Request) -> Response:
    """DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}

    - Deletes a user-defined rule; 404 M_NOT_FOUND if absent; predefined rules cannot be deleted.
    """
    who = await requester(request)
    params = request.path_params
    await services(request).userdata.delete_push_rule(who.user_id, params["kind"], params["ruleId"])
    return empty()


@route("GET", *client_paths(RULE + "/enabled"))
async def get_push_rule_enabled(request: Request) -> Response:
    """GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled

    - {"enabled": bool} of any rule, predefined or user-defined.
    """
    who = await requester(request)
    params = request.path_params
    rule = await services(request).userdata.get_push_rule(who.user_id, params["kind"], params["ruleId"])
    return json_response({"enabled": rule["enabled"]})


@route("PUT", *client_paths(RULE + "/enabled"))
async def set_push_rule_enabled(request: Request) -> Response:
    """PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled

    - Enables or disables any rule, predefined ones included (e.g. .m.rule.master to mute all).
    """
    who = await requester(request)
    body = await json_body(request)
    params = request.path_params
    await services(request).userdata.set_push_rule_attribute(
        who.user_id, params["kind"], params["ruleId"], "enabled", require(body, "enabled", bool))
    return empty()


@route("GET", *client_paths(RULE + "/actions"))
async def get_push_rule_actions(request: Request) -> Response:
    """GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions

    - {"actions": [...]} of any rule.
    """
    who = await requester(request)
    params = request.path_params
    rule = await services(request).userdata.get_push_rule(who.user_id, params["kind"], params["ruleId"])
    return json_response({"actions": rule["actions"]})


@route("PUT", *client_paths(RULE + "/actions"))
async def set_push_rule_actions(request: Request) -> Response:
    """PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions

    - Replaces the actions of any rule, predefined ones included.
    """
    who = await requester(request)
    body = await json_body(request)
    params = request.path_params
    await services(request).userdata.set_push_rule_attribute(
        who.user_id, params["kind"], params["ruleId"], "actions", require(body, "actions", list))
    return empty()

