"""Rate limits on GraphQL operations, applied after parsing and before validation or execution.

Every request counts (numbers in Settings, state shared by every worker, see core/ratelimit.py):
- anonymous requests per IP, and so are requests whose token is bad, expired or revoked (they are
  answered before the schema runs, so the view counts them through ``count_rejected``) and
  documents that do not parse;
- authenticated requests, queries and mutations alike, per user;
- mutations on their own, each root mutation field once (30 aliased ``register``s are 30): per
  user when authenticated, per IP when not;
- login attempts per account (the e-mail, case-insensitive) and per IP: brute force either way.

A refused request gets ``RATE_LIMITED`` with ``retryAfter``, HTTP 429 and ``Retry-After``, and
nothing in it runs. Off when ``KAPDA_RATE_LIMITS=off``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_operation_ast,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from kapda_gql import observability
from kapda_gql.core.ratelimit import RateLimiter, Rule, make_limiter, strictest
from kapda_gql.domain.errors import RateLimited
from kapda_gql.runtime import Runtime

LOGIN_FIELDS = frozenset({"login"})
EXTRA_KEY = "rate_limiter"


def limiter_of(runtime: Runtime) -> RateLimiter:
    limiter: RateLimiter | None = runtime.extras.get(EXTRA_KEY)
    if limiter is None:
        limiter = runtime.extras[EXTRA_KEY] = make_limiter(runtime.db, runtime.settings.redis_url)
    return limiter


def root_fields(
    selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    """The operation's root fields, through inline fragments and (non-cyclic) spreads."""
    out: list[FieldNode] = []
    seen: set[str] = set()
    stack = [selection_set]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                out.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    stack.append(fragments[name].selection_set)
    return out


def login_email(field: FieldNode, variables: Mapping[str, Any]) -> str | None:
    for argument in field.arguments or ():
        if argument.name.value != "input":
            continue
        try:
            value = value_from_ast_untyped(argument.value, dict(variables))
        except Exception:  # a malformed value: validation will refuse the document
            return None
        email = value.get("email") if isinstance(value, dict) else None
        return email.strip().lower() if isinstance(email, str) else None
    return None


def request_rule(user_id: int | None, ip: str | None, settings: Any) -> Rule:
    """The one hit every request makes: on its user when authenticated, otherwise on its address."""
    if user_id is not None:
        return Rule(f"user:{user_id}", *settings.rate_requests_per_user)
    return Rule(f"anon-ip:{ip or 'unknown'}", *settings.rate_anonymous_per_ip)


def rules_for(
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    *,
    user_id: int | None,
    ip: str | None,
    settings: Any,
) -> list[Rule]:
    who = ip or "unknown"
    rules = [request_rule(user_id, ip, settings)]
    operation: OperationDefinitionNode | None = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.MUTATION:
        return rules
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    fields = root_fields(operation.selection_set, fragments)
    per_field = (
        Rule(f"mutation-user:{user_id}", *settings.rate_mutations_per_user)
        if user_id is not None
        else Rule(f"mutation-ip:{who}", *settings.rate_mutations_per_ip)
    )
    rules.extend(per_field for _ in fields)
    for field in fields:
        if field.name.value not in LOGIN_FIELDS:
            continue
        rules.append(Rule(f"login-ip:{who}", *settings.rate_login_per_ip))
        email = login_email(field, variables or {})
        if email:
            rules.append(Rule(f"login-account:{email}", *settings.rate_login_per_account))
    return rules


class RateLimits(SchemaExtension):
    """Registered in kapda_gql.extensions; listed after QueryLimits so it runs first after parsing."""

    counted = False

    async def on_operation(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            # A document that did not parse never reached on_parse: anonymous floods still count.
            context = self.execution_context.context
            runtime = getattr(context, "runtime", None)
            if not self.counted and isinstance(runtime, Runtime) and runtime.settings.rate_limits:
                principal = getattr(context, "principal", None)
                rule = request_rule(
                    principal.user_id if principal is not None else None,
                    getattr(context, "ip", None),
                    runtime.settings,
                )
                await limiter_of(runtime).hit([rule])

    async def on_parse(self) -> AsyncIterator[None]:
        yield
        ctx = self.execution_context
        context = ctx.context
        runtime = getattr(context, "runtime", None)
        if (
            not isinstance(runtime, Runtime)
            or not runtime.settings.rate_limits
            or ctx.graphql_document is None
        ):
            return
        principal = getattr(context, "principal", None)
        rules = rules_for(
            ctx.graphql_document,
            ctx.operation_name,
            ctx.variables,
            user_id=principal.user_id if principal is not None else None,
            ip=getattr(context, "ip", None),
            settings=runtime.settings,
        )
        self.counted = True
        refusal = await _hit(runtime, context, rules)
        if refusal is not None:
            raise refusal


async def _hit(runtime: Runtime, context: Any, rules: list[Rule]) -> RateLimited | None:
    """Count the rules; the refusal to answer (already marked 429 on the response) if one is over."""
    refused = strictest(await limiter_of(runtime).hit(rules))
    if refused is None:
        return None
    rule_name = refused.rule.key.partition(":")[0]
    observability.record_rate_limited(rule_name)
    response = getattr(context, "response", None)
    if response is not None:
        response.headers["Retry-After"] = str(refused.retry_after)
        response.status_code = 429
    return RateLimited(
        refused.retry_after, f"Too many requests ({rule_name}); retry in {refused.retry_after} s"
    )


async def count_rejected(context: Any) -> RateLimited | None:
    """A request refused before the schema ran (a bad, expired or revoked token) counts per IP too;
    the refusal to answer instead when that address is over its allowance."""
    runtime = getattr(context, "runtime", None)
    if not isinstance(runtime, Runtime) or not runtime.settings.rate_limits:
        return None
    return await _hit(runtime, context, [request_rule(None, getattr(context, "ip", None), runtime.settings)])


__all__ = ["RateLimits", "count_rejected", "limiter_of", "request_rule", "root_fields", "rules_for"]
