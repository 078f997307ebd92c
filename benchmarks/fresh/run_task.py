"""One task of the workflow module of the tree under test, run as a pod runs it (flytekit local execution):

    python -m benchmarks.fresh.run_task TASK INPUTS.pkl OUTPUTS.pkl [--baseline-tuning]

reads the task's keyword arguments from INPUTS, writes its output to OUTPUTS, and prints its peak RSS and, on a
GPU machine, TensorFlow's peak GPU memory. ``--baseline-tuning`` adds the input only the baseline commit's tasks
take (``baseline_epochs.baseline_tuning``)."""

from __future__ import annotations

import argparse
import json
import pickle
import sys

from benchmarks.common import peak_rss_bytes
from benchmarks.fresh import use_tree


def plain(value: object) -> object:
    """flytekit's output tuples are generated classes that do not pickle: dicts and lists of their fields."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    return [plain(item) for item in value] if isinstance(value, list) else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("inputs")
    parser.add_argument("outputs")
    parser.add_argument("--baseline-tuning", action="store_true")
    args = parser.parse_args()
    use_tree()
    from workflows import neural_style_transfer as module

    with open(args.inputs, "rb") as stream:
        kwargs = pickle.load(stream)
    if args.baseline_tuning:
        from benchmarks.fresh.baseline_epochs import baseline_tuning

        kwargs["tuning"] = baseline_tuning()
    output = getattr(module, args.task)(**kwargs)
    with open(args.outputs, "wb") as stream:
        pickle.dump(plain(output), stream)
    tf = sys.modules.get(
        "tensorflow"
    )  # only a task that loaded it can have used the GPU: others must not pay its import
    gpu = (
        tf.config.experimental.get_memory_info("GPU:0")["peak"]
        if tf and tf.config.list_physical_devices("GPU")
        else None
    )
    print(json.dumps({"peak_bytes": peak_rss_bytes(), "gpu_peak_bytes": gpu}))


if __name__ == "__main__":
    main()
