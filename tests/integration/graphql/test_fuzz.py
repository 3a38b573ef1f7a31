"""Generated hostile input over the real schema: no document may cause an internal error.

Two generators feed the real ASGI app in-process, as an anonymous caller and as a signed-in
customer (plus designers and admins for part of them):

- our own, seeded and fast: thousands of documents built from the introspected schema with
  hostile values (huge and negative numbers, NUL bytes, long and odd Unicode strings, ids that
  are not ids), valid and type-correct variables, and broken documents (truncated, unknown fields,
  wrong literal types);
- hypothesis-graphql (derandomized), valid and one-violation documents, for its different taste
  in values.

Every answer must be a 2xx/4xx with GraphQL-shaped errors, each carrying a code and request id,
no ``INTERNAL_SERVER_ERROR`` and no traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)

from kapda_gql.auth.security import issue_token
from tests.support.apps import Api

SEED = 20261126
# KAPDA_FUZZ_DOCUMENTS raises it for a longer hunt; the default keeps the run well under a minute.
OWN_DOCUMENTS = int(os.environ.get("KAPDA_FUZZ_DOCUMENTS", "2500"))
HYPOTHESIS_DOCUMENTS = 210
CONCURRENCY = 6

INTS = [
    0,
    1,
    -1,
    2,
    5,
    20,
    100,
    101,
    1000,
    2**31 - 1,
    -(2**31),
    10_000_000_00,
    10_000_000_01,
    999_999,
    1_000_001,
]
STRINGS = [
    "",
    " ",
    "a",
    "Kurta",
    "M",
    "Blue",
    "x" * 201,
    "y" * 5_001,
    "\u0000",
    "nul\u0000inside",
    "\u202eRTL override",
    "😀🧵👗",
    "e\u0301",
    "\ud7ff\ue000\uffff",
    "' OR 1=1 --",
    "'; DROP TABLE users; --",
    "%_\\",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "\r\n\t",
    "null",
    "1e309",
    "https://example.com/a.jpg",
    "javascript:alert(1)",
    "someone@example.com",
    "SKU-1",
    "NEWEST",
    "eyJhbGciOiJub25lIn0.e30.",
    "Ω≈ç√∫˜µ≤≥÷",
    "ＡＢＣ",
    "2026-01-01T00:00:00Z",
    "not-a-date",
    "9999-12-31T23:59:59+14:00",
]
DATES = ["2026-01-01T00:00:00Z", "1970-01-01T00:00:00+00:00", "9999-12-31T23:59:59", "0001-01-01T00:00:00"]
IDS = [
    "1",
    "²",
    "2",
    "3",
    "0",
    "-1",
    "abc",
    "",
    " 7",
    "1.5",
    "١٢",
    "9" * 30,
    str(2**63),
    str(2**63 - 1),
    "0x10",
    "1e3",
]


def literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    return str(value)


class Enum(str):
    """An enum value: written bare in documents, as a string in variables."""


def literal_of(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal_of(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {literal_of(v)}" for k, v in value.items()) + "}"
    return literal(value)


@dataclass
class Generator:
    schema: GraphQLSchema
    rng: random.Random

    # --- values ---------------------------------------------------------------------------

    # Mostly, variables are of their declared type (so the request reaches our code); some are not
    # (coercion must refuse them as BAD_USER_INPUT). Literals may be anything: the validator answers.
    typed: bool = False
    loose: bool = False

    def value(self, type_: GraphQLInputType, depth: int = 0) -> Any:
        if isinstance(type_, GraphQLNonNull) and (self.typed or self.rng.random() < 0.9):
            return self.non_null(type_.of_type, depth)  # type: ignore[arg-type]
        if self.rng.random() < 0.08:
            return None
        return self.non_null(type_, depth)

    def non_null(self, type_: GraphQLInputType, depth: int) -> Any:
        if isinstance(type_, GraphQLNonNull):
            return self.non_null(type_.of_type, depth)  # type: ignore[arg-type]
        if isinstance(type_, GraphQLList):
            return [self.value(type_.of_type, depth + 1) for _ in range(self.rng.choice([0, 1, 1, 2, 3, 13]))]
        if isinstance(type_, GraphQLEnumType):
            return Enum(self.rng.choice(list(type_.values)))
        if isinstance(type_, GraphQLInputObjectType):
            out: dict[str, Any] = {}
            for name, field in type_.fields.items():
                required = isinstance(field.type, GraphQLNonNull)
                if required or (depth < 3 and self.rng.random() < 0.5):
                    out[name] = self.value(field.type, depth + 1)
            return out
        assert isinstance(type_, GraphQLScalarType)
        name = type_.name
        if name == "Int":
            return self.rng.choice(INTS) if self.rng.random() < 0.7 else self.rng.randint(-1000, 10**6)
        if name == "Boolean":
            return self.rng.random() < 0.5
        if name == "ID":
            return self.rng.choice(IDS)
        if name == "Float":
            return self.rng.choice([0.0, -1.5, 1e300])
        if name == "DateTime" and self.typed:
            return self.rng.choice(DATES)
        if not self.typed and self.rng.random() < 0.2:
            return self.rng.choice([1.5, True, [], {"a": 1}, "1", 2**40])  # the wrong type
        return self.rng.choice(STRINGS)

    # --- selections -----------------------------------------------------------------------

    def selection(self, type_: GraphQLOutputType, depth: int) -> str:
        named = get_named_type(type_)
        if isinstance(named, GraphQLUnionType | GraphQLInterfaceType):
            return "{ __typename }"
        if not isinstance(named, GraphQLObjectType):
            return ""
        fields = list(named.fields.items())
        if depth >= 4:
            scalars = [(n, f) for n, f in fields if not isinstance(get_named_type(f.type), GraphQLObjectType)]
            fields = scalars or fields[:1]
        chosen = self.rng.sample(fields, k=min(len(fields), self.rng.randint(1, 4)))
        parts = []
        for name, field in chosen:
            args = self.arguments(field, {}, use_variables=False)
            inner = self.selection(field.type, depth + 1)
            if isinstance(get_named_type(field.type), GraphQLObjectType) and not inner:
                inner = "{ __typename }"
            parts.append(f"{name}{args} {inner}".strip())
        if self.rng.random() < 0.1:
            parts.append("__typename")
        return "{ " + " ".join(parts) + " }"

    def arguments(self, field: GraphQLField, variables: dict[str, Any], *, use_variables: bool) -> str:
        parts = []
        for name, argument in field.args.items():
            required = isinstance(argument.type, GraphQLNonNull)
            if not (required or self.rng.random() < 0.6):
                continue
            self.typed = use_variables and not self.loose
            value = self.value(argument.type)
            if use_variables:
                var = f"v{len(variables)}"
                variables[var] = (argument.type, value)
                parts.append(f"{name}: ${var}")
            else:
                parts.append(f"{name}: {literal_of(value)}")
        return "(" + ", ".join(parts) + ")" if parts else ""

    # --- documents ------------------------------------------------------------------------

    def document(self) -> tuple[str, dict[str, Any]]:
        mutation = self.rng.random() < 0.45
        root = self.schema.mutation_type if mutation else self.schema.query_type
        assert root is not None
        fields = list(root.fields.items())
        chosen = self.rng.sample(fields, k=self.rng.choice([1, 1, 1, 2, 3]))
        use_variables = self.rng.random() < 0.35
        self.loose = self.rng.random() < 0.15
        variables: dict[str, tuple[GraphQLInputType, Any]] = {}
        parts = []
        for i, (name, field) in enumerate(chosen):
            alias = f"f{i}: " if self.rng.random() < 0.3 else ""
            parts.append(
                f"{alias}{name}{self.arguments(field, variables, use_variables=use_variables)} "
                f"{self.selection(field.type, 1)}".strip()
            )
        head = "mutation" if mutation else "query"
        if variables:
            head += "(" + ", ".join(f"${n}: {t}" for n, (t, _) in variables.items()) + ")"
        doc = head + " { " + " ".join(parts) + " }"
        values = {n: plain(v) for n, (_, v) in variables.items()}
        if self.rng.random() < 0.15:
            doc = self.break_(doc)
        return doc, values

    def break_(self, doc: str) -> str:
        """A broken document: the parser or the validator must refuse it, politely."""
        kind = self.rng.randrange(7)
        if kind == 0:
            return doc[: self.rng.randrange(1, len(doc))]
        if kind == 1:
            at = self.rng.randrange(len(doc))
            return (
                doc[:at]
                + self.rng.choice(["{", "}", "(", ")", "$", "@", "...", '"', "\\", "\u0000", "#"])
                + doc[at:]
            )
        if kind == 2:
            return doc.replace("{ ", "{ nosuchfield ", 1)
        if kind == 3:
            return doc.replace(": ", ': "wrong type" ', 1)
        if kind == 4:
            return doc + " fragment F on Nope { x }"
        if kind == 5:
            return doc.replace("query", "subscription", 1).replace("mutation", "subscription", 1)
        return doc.replace("{", "{ ...F ", 1) + " fragment F on Query { ...F }"


def plain(value: Any) -> Any:
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return str(value) if isinstance(value, Enum) else value


@dataclass
class Callers:
    secret: str
    users: dict[str, int]

    def token(self, role: str) -> str | None:
        # A fresh token per request: a generated `logout` must not silence the rest of the run.
        return None if role == "anonymous" else issue_token(self.secret, self.users[role], 3600)[0]


def problems_in(response: Any, doc: str) -> list[str]:
    found = []
    if response.status_code >= 500:
        found.append(f"HTTP {response.status_code}")
    if "Traceback" in response.text or 'File "' in response.text:
        found.append("traceback in the response")
    try:
        body = response.json()
    except ValueError:
        return [*found, f"not JSON: {response.text[:200]}"]
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors or []:
        ext = error.get("extensions") or {}
        if ext.get("code") in (None, "INTERNAL_SERVER_ERROR"):
            found.append(f"{ext.get('code')}: {error.get('message')}")
        if not ext.get("requestId"):
            found.append("error without requestId")
    return [f"{p}\n    in: {doc[:600]}" for p in found]


async def run_all(
    api: Api, callers: Callers, docs: list[tuple[str, dict[str, Any]]], db: asyncpg.Connection
) -> tuple[list[str], Counter[str]]:
    """Each document as anonymous and as a customer (every 10th also as designer and admin),
    CONCURRENCY requests at a time: the app serves concurrent requests, so must the fuzz."""
    problems: list[str] = []
    seen: Counter[str] = Counter()

    async def one(index: int, doc: str, variables: dict[str, Any], role: str) -> None:
        token = callers.token(role)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await api.client.post(
            "/graphql", json={"query": doc, "variables": variables}, headers=headers
        )
        problems.extend(f"[{role}] {p}" for p in problems_in(response, doc))
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            for error in body.get("errors") or []:
                seen[str((error.get("extensions") or {}).get("code"))] += 1
            if not body.get("errors"):
                seen["ok"] += 1

    calls = [
        (i, doc, variables, role)
        for i, (doc, variables) in enumerate(docs)
        for role in ("anonymous", "customer", *(("designer", "admin") if i % 10 == 0 else ()))
    ]
    for start in range(0, len(calls), CONCURRENCY * 25):
        chunk = calls[start : start + CONCURRENCY * 25]
        for at in range(0, len(chunk), CONCURRENCY):
            await asyncio.gather(*(one(*call) for call in chunk[at : at + CONCURRENCY]))
        # Generated admin mutations may suspend the test users: keep every role able to act.
        await db.execute("UPDATE users SET status = 'ACTIVE'")
    return problems, seen


async def world(make_user: Any, make_product: Any, settings: Any) -> Callers:
    users = {
        "customer": await make_user("CUSTOMER"),
        "designer": await make_user("DESIGNER"),
        "admin": await make_user("ADMIN"),
    }
    for status in ("APPROVED", "APPROVED", "DRAFT", "PENDING_REVIEW"):
        await make_product(users["designer"].designer_id, status=status)
    return Callers(settings.jwt_secret, {role: u.id for role, u in users.items()})


async def test_generated_documents_never_fail_internally(
    api: Api, make_user: Any, make_product: Any, settings: Any, db: asyncpg.Connection
) -> None:
    from kapda_gql.graphql.schema import build_schema

    callers = await world(make_user, make_product, settings)
    generator = Generator(build_schema()._schema, random.Random(SEED))
    docs = [generator.document() for _ in range(OWN_DOCUMENTS)]
    assert len({d for d, _ in docs}) > OWN_DOCUMENTS * 0.9, "the generator repeats itself"

    started = time.perf_counter()
    problems, seen = await run_all(api, callers, docs, db)
    elapsed = time.perf_counter() - started
    assert not problems, f"{len(problems)} problems, e.g.:\n" + "\n".join(problems[:15])
    # The run reached past the front door: executed operations and domain errors, not only refusals.
    n = len(docs)
    assert seen["ok"] > n // 10, seen
    assert seen["BAD_USER_INPUT"] > n // 50, seen
    assert seen["GRAPHQL_VALIDATION_FAILED"] > n // 50, seen
    assert seen["GRAPHQL_PARSE_FAILED"] > n // 250, seen
    assert seen["FORBIDDEN"] + seen["UNAUTHENTICATED"] > n // 50, seen
    print(f"fuzz: {len(docs)} documents in {elapsed:.1f} s; answers: {dict(seen)}")


async def test_hypothesis_graphql_documents_never_fail_internally(
    api: Api, make_user: Any, make_product: Any, settings: Any, db: asyncpg.Connection
) -> None:
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hypothesis_settings
    from hypothesis import strategies as st
    from hypothesis_graphql import Mode, from_schema, nodes

    from kapda_gql.graphql.schema import build_schema

    callers = await world(make_user, make_product, settings)
    schema = build_schema()._schema
    scalars = {
        "DateTime": st.sampled_from(["2026-01-01T00:00:00Z", "yesterday", "", "2026-13-45T99:99:99"]).map(
            nodes.String
        ),
        "JSON": st.sampled_from(["{}", "[]", "x"]).map(nodes.String),
    }
    docs: list[tuple[str, dict[str, Any]]] = []
    for mode, count in (
        (Mode.POSITIVE, HYPOTHESIS_DOCUMENTS * 2 // 3),
        (Mode.NEGATIVE, HYPOTHESIS_DOCUMENTS // 3),
    ):

        @hypothesis_settings(
            max_examples=count,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(from_schema(schema, custom_scalars=scalars, mode=mode))
        def collect(document: str) -> None:
            docs.append((document, {}))

        collect()
    assert len(docs) >= HYPOTHESIS_DOCUMENTS * 0.9
    problems, seen = await run_all(api, callers, docs, db)
    assert not problems, f"{len(problems)} problems, e.g.:\n" + "\n".join(problems[:15])
    assert seen["ok"] > 5, seen
    assert seen["BAD_USER_INPUT"] + seen["GRAPHQL_VALIDATION_FAILED"] > len(docs) // 2, seen


async def test_ids_with_non_ascii_digits_are_bad_user_input(api: Api) -> None:
    for value in ("²", "¹²³", "①"):
        body = await api("query($id: ID) { product(id: $id) { id } }", {"id": value})
        assert [e["extensions"]["code"] for e in body.get("errors") or []] == ["BAD_USER_INPUT"], body


async def test_wrongly_typed_variables_are_bad_user_input(api: Api) -> None:
    """Variables that do not coerce to their declared type are the client's mistake."""
    cases = [
        ("query($n: Int) { products(first: $n) { totalCount } }", {"n": "ten"}),
        # (`first: 1.5` is QUERY_TOO_COMPLEX by the contract: a page size that is not whole.)
        ("query($n: Int) { products(filter: {minPrice: $n}) { totalCount } }", {"n": 1.5}),
        ("query($s: ProductSort) { products(sort: $s) { totalCount } }", {"s": "NEWES"}),
        ("query($f: ProductFilter) { products(filter: $f) { totalCount } }", {"f": {"minPrice": "cheap"}}),
        ("query($f: ProductFilter) { products(filter: $f) { totalCount } }", {"f": {"nosuch": 1}}),
        ("query($id: ID!) { product(id: $id) { id } }", {"id": {"a": 1}}),
        ("query($id: ID!) { product(id: $id) { id } }", {}),
        ("mutation($i: LoginInput!) { login(input: $i) { token } }", {"i": {"email": "a@b.co"}}),
        ("mutation($i: LoginInput!) { login(input: $i) { token } }", {"i": [1, 2]}),
    ]
    wrong = []
    for doc, variables in cases:
        body = await api(doc, variables)
        got = [e["extensions"]["code"] for e in body.get("errors") or []]
        if got != ["BAD_USER_INPUT"]:
            wrong.append(f"{variables}: {got} {body.get('errors')}")
    assert not wrong, "\n".join(wrong)


async def test_sibling_field_floods_are_refused_not_crashed(api: Api) -> None:
    """graphql-core's validator recurses once per identical sibling; deep enough, it gives up."""
    for n in (500, 1000, 1900):
        body = await api("{ " + " ".join(["__typename"] * n) + " }")
        codes = [e["extensions"]["code"] for e in body.get("errors") or []]
        assert "INTERNAL_SERVER_ERROR" not in codes, body
        assert body.get("data") == {"__typename": "Query"} or codes == ["GRAPHQL_VALIDATION_FAILED"], body
