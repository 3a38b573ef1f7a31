"""Rate limits on GraphQL operations, applied after parsing and before validation or execution.

Rules (numbers in Settings, state shared by every worker, see services/ratelimit.py):
- anonymous requests per IP;
- mutations per user (each root mutation field counts, so aliases do not multiply the allowance);
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
    rules: list[Rule] = []
    if user_id is None:
        rules.append(Rule(f"anon-ip:{who}", *settings.rate_anonymous_per_ip))
    operation: OperationDefinitionNode | None = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.MUTATION:
        return rules
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    fields = root_fields(operation.selection_set, fragments)
    if user_id is not None:
        rules.extend(Rule(f"mutation-user:{user_id}", *settings.rate_mutations_per_user) for _ in fields)
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
            if (
                not self.counted
                and isinstance(runtime, Runtime)
                and runtime.settings.rate_limits
                and getattr(context, "principal", None) is None
            ):
                ip = getattr(context, "ip", None) or "unknown"
                await limiter_of(runtime).hit(
                    [Rule(f"anon-ip:{ip}", *runtime.settings.rate_anonymous_per_ip)]
                )

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
        refused = strictest(await limiter_of(runtime).hit(rules))
        if refused is None:
            return
        rule_name = refused.rule.key.partition(":")[0]
        observability.record_rate_limited(rule_name)
        response = getattr(context, "response", None)
        if response is not None:
            response.headers["Retry-After"] = str(refused.retry_after)
            response.status_code = 429
        raise RateLimited(
            refused.retry_after, f"Too many requests ({rule_name}); retry in {refused.retry_after} s"
        )


__all__ = ["RateLimits", "limiter_of", "root_fields", "rules_for"]
