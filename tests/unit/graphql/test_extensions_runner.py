"""Our extensions runner (graphql/schema.py) works each hook out once per class instead of per
request. It must behave as Strawberry's own runner does, whatever Strawberry version is installed:
the same hooks, in the same order, around the same work, with exceptions passed through them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner

from kapda_gql.graphql.schema import ExtensionsRunner

pytestmark = pytest.mark.unit

Trace = list[str]


def _extensions(trace: Trace) -> list[SchemaExtension]:
    class Generator(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            trace.append("generator operation in")
            try:
                yield
            except Exception as error:  # seeing the failure is part of the hook contract
                trace.append(f"generator operation saw {error}")
                raise
            trace.append("generator operation out")

        def on_parse(self) -> Iterator[None]:
            trace.append("generator parse in")
            yield
            trace.append("generator parse out")

    class AsyncGenerator(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:
            trace.append("async operation in")
            yield
            trace.append("async operation out")

        async def on_execute(self) -> AsyncIterator[None]:
            trace.append("async execute in")
            yield
            trace.append("async execute out")

    class Plain(SchemaExtension):
        def on_validate(self) -> None:  # type: ignore[override]
            trace.append("plain validate")

        def on_parse(self) -> None:  # type: ignore[override]
            trace.append("plain parse")

        def get_results(self) -> dict[str, Any]:
            return {"plain": 1}

    class Nothing(SchemaExtension):
        pass

    made: list[SchemaExtension] = [Generator(), Nothing(), AsyncGenerator(), Plain()]
    return made


async def _request(runner: SchemaExtensionsRunner, trace: Trace, *, fail: bool) -> None:
    async with runner.operation():
        with runner.parsing():
            trace.append("parse")
        with runner.validation():
            trace.append("validate")
        async with runner.executing():
            trace.append("execute")
            if fail:
                raise ValueError("boom")


def _runner(kind: type[SchemaExtensionsRunner], trace: Trace) -> SchemaExtensionsRunner:
    context: Any = type("Context", (), {"extensions_results": {"own": 2}})()
    extensions = _extensions(trace)
    for extension in extensions:
        extension.execution_context = context
    return kind(execution_context=context, extensions=extensions)


@pytest.mark.parametrize("fail", [False, True])
async def test_hooks_run_in_strawberrys_order_around_the_same_work(fail: bool) -> None:
    traces: list[Trace] = []
    for kind in (SchemaExtensionsRunner, ExtensionsRunner):
        trace: Trace = []
        runner = _runner(kind, trace)
        if fail:
            with pytest.raises(ValueError, match="boom"):
                await _request(runner, trace, fail=True)
        else:
            await _request(runner, trace, fail=False)
        traces.append(trace)
    theirs, ours = traces
    assert ours == theirs
    assert "generator operation in" in ours and ("generator operation saw boom" in ours) == fail


async def test_results_are_every_extensions_and_the_contexts() -> None:
    theirs = _runner(SchemaExtensionsRunner, [])
    ours = _runner(ExtensionsRunner, [])
    expected = await theirs.get_extensions_results(theirs.execution_context)
    assert await ours.get_extensions_results(ours.execution_context) == expected == {"plain": 1, "own": 2}


def test_an_async_hook_in_a_synchronous_stage_is_refused_as_strawberry_refuses_it() -> None:
    for kind in (SchemaExtensionsRunner, ExtensionsRunner):
        runner = _runner(kind, [])
        with pytest.raises(RuntimeError, match="failed to complete synchronously"), runner.operation():
            pass
