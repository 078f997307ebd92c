"""Run a Flyte task as a pod runs it (``dispatch_execute``), with the intratask checkpoint a retry would get."""

from __future__ import annotations

import typing
from pathlib import Path

from flytekit.core.checkpointer import SyncCheckpoint
from flytekit.core.context_manager import ExecutionParameters, ExecutionState, FlyteContextManager
from flytekit.core.type_engine import TypeEngine


class KilledAtWrite(SyncCheckpoint):
    """A real checkpoint that dies when asked for write number ``kill_at``: that epoch ran, but its checkpoint
    never landed (the worst moment for a kill: the retry repeats one whole epoch). ``KeyboardInterrupt`` is what
    a kill looks like to the task: not an ``Exception`` flytekit would catch and wrap."""

    def __init__(self, destination: Path, kill_at: int) -> None:
        super().__init__(checkpoint_dest=str(destination))
        self.kill_at, self.writes = kill_at, 0

    def save(self, cp: typing.Any) -> None:
        self.writes += 1
        if self.writes == self.kill_at:
            raise KeyboardInterrupt(f"killed at checkpoint write {self.writes}")
        super().save(cp)


def run_as_pod(
    task: typing.Any, inputs: dict[str, object], outputs: dict[str, type], checkpoint: SyncCheckpoint, work: Path
) -> tuple[dict[str, object], ExecutionParameters.Builder]:
    """``task`` executed on ``inputs`` with ``checkpoint``; its ``outputs`` (name -> Python type) as values, and
    the execution parameters it ran with (their ``decks`` are the task's Decks)."""
    context = FlyteContextManager.current_context()
    params = ExecutionParameters.new_builder(context.user_space_params)
    params.checkpoint = checkpoint
    params.working_dir = str(work / f"work-{id(checkpoint)}")
    params.decks = []
    state = context.execution_state.with_params(
        mode=ExecutionState.Mode.LOCAL_TASK_EXECUTION, user_space_params=params.build()
    )
    with FlyteContextManager.with_context(context.with_execution_state(state)) as context:
        literals = TypeEngine.dict_to_literal_map(context, inputs, type_hints=task.python_interface.inputs)
        produced = task.dispatch_execute(context, literals)
        values = {
            name: TypeEngine.to_python_value(context, produced.literals[name], kind) for name, kind in outputs.items()
        }
    return values, params
