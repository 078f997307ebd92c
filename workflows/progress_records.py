"""What a running task shows: its live Deck, and the progress record and current image beside ``output_uri``.

:class:`ProgressPublisher` is the one writer of both, for the preview task and the optimisation tasks alike;
:class:`EpochProgress` makes an optimisation task's page and record after each epoch. The page and the record's
contents are the flytekit-free ``workflows/engine/progress_view.py``."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import numpy as np
from flytekit import Deck, current_context
from flytekit.core.context_manager import FlyteContextManager

from workflows import images
from workflows.engine.options import StyleOptions
from workflows.engine.progress_view import progress_html, progress_record, weights_warning
from workflows.output_files import write_beside
from workflows.task_log import log

PROGRESS_SUFFIX = ".progress.json"
PREVIEW_SUFFIX = ".preview.png"


def latest_local_deck() -> Path | None:
    """In a local execution, the newest Deck page flytekit wrote (a random folder under its sandbox); else None."""
    context = FlyteContextManager.current_context()
    if not (context.execution_state and context.execution_state.is_local_execution()):
        return None
    pages = Path(context.file_access.local_sandbox_dir).rglob("deck.html")
    return max(pages, key=lambda page: page.stat().st_mtime_ns, default=None)


class ProgressPublisher:
    """A task's Deck ``deck_name``, replaced and streamed to the console at each :meth:`publish`, and with an
    ``output_uri`` the progress record and image beside it (overwritten each time; a failure to write any of them
    is logged, never fatal)."""

    def __init__(self, deck_name: str, output_uri: str) -> None:
        self.deck_name, self.output_uri = deck_name, output_uri
        self._deck: Deck | None = None

    def publish(self, page: str, png: bytes, record: dict[str, typing.Any]) -> None:
        self._publish_deck(page)
        if self.output_uri:
            write_beside(self.output_uri, PREVIEW_SUFFIX, png)
            write_beside(self.output_uri, PROGRESS_SUFFIX, json.dumps(record).encode())

    def _publish_deck(self, page: str) -> None:
        decks = current_context().decks
        deck = Deck(self.deck_name, page, auto_add_to_deck=False)
        if self._deck is not None and self._deck in decks:
            decks[decks.index(self._deck)] = deck
        else:
            decks.append(deck)
        self._deck = deck
        try:
            Deck.publish()
        except Exception as exc:  # a console that cannot be reached must not stop the task
            log.warning("could not publish the %s Deck: %s", self.deck_name, exc)


class EpochProgress:
    """After each epoch of an optimisation task: the Progress Deck and the progress record and image."""

    def __init__(
        self,
        options: StyleOptions,
        output_uri: str,
        weights: str,
        first_epoch: int,
        show: typing.Callable[[typing.Any], np.ndarray],
        title: str = "",
        style: np.ndarray | None = None,
    ) -> None:
        self.options, self.weights, self.show = options, weights, show
        self.title, self.style = title, style
        self.epoch = first_epoch
        self.epoch_ends: list[int] = []
        self._publisher = ProgressPublisher("Progress", output_uri)

    def epoch_done(self, done: typing.Any) -> None:
        state = done.state
        self.epoch = done.epoch + 1
        self.epoch_ends.append(len(state.losses))
        title = (
            f"{self.title + ': ' if self.title else ''}Epoch {done.epoch + 1} of {self.options.epochs} "
            f"({done.width}x{done.height}, {self.options.optimizer}, {done.precision})"
        )
        shown = self.show(state)
        yardstick = self._style_distance(shown)
        png = images.encode_png(shown, compress_level=images.PROGRESS_PNG_LEVEL)  # the Deck's and the preview's
        page = progress_html(
            png,
            state.losses,
            title=title,
            epoch_ends=self.epoch_ends,
            settings={**yardstick, **self.options.summary(), "weights": self.weights},
            warning=weights_warning(self.weights),
        )
        record = progress_record(
            epoch=done.epoch + 1,
            epochs=self.options.epochs,
            steps=len(state.losses),
            loss=state.losses[-1] if state.losses else None,
            seconds=state.seconds,
            weights=self.weights,
            done=done.epoch + 1 == self.options.epochs,
        )
        self._publisher.publish(page, png, record)

    def _style_distance(self, image: np.ndarray) -> dict[str, str]:
        """The trained yardstick (``workflows/engine/networks/arbitrary_stylization.py``): how far the image's
        style is from the style image's, independent of VGG19 (so it shows honestly whether random weights
        stylized anything)."""
        if self.style is None:
            return {}
        from workflows.engine.networks import arbitrary_stylization as feed_forward

        try:
            return {"style distance (trained yardstick)": f"{feed_forward.style_distance(image, self.style):.2f}"}
        except feed_forward.PreviewError:
            return {}
