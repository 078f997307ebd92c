"""Launch plans of ``neural_style_transfer_wf``, defined in code so ``pyflyte register workflows`` registers them.

* ``workflows.neural_style_transfer.neural_style_transfer_wf``: the workflow's *default* launch plan. Flyte creates
  it with the workflow, with the workflow's own defaults (CPU only: 2 CPUs per optimisation task, memory from the memory model). It is
  what the trigger launches unless told otherwise (``NST_LAUNCH_PLAN``, the stack parameter ``LaunchPlan``), so it
  is not redefined here: a second, named copy of the same defaults would only be one more thing to keep in step.
* ``neural_style_transfer_gpu`` (:data:`GPU_LAUNCH_PLAN`): the same workflow with one GPU per optimisation task.
  ``optimize_gpu`` is *fixed* (an execution of this plan cannot drop the GPU); the accelerator type and the CPU and
  memory beside the GPU are *defaults*, which an execution may override (a cluster whose GPU nodes are L4s runs it
  with ``gpu_accelerator=nvidia-l4``). The trigger sends only the images, the output URI and, when configured,
  ``epochs``, ``steps_per_epoch`` and ``max_dim``, none of which is fixed here.

A GPU task needs an image with CUDA TensorFlow. Every entity registered by one ``pyflyte register`` shares one
image, so to run the GPU plan build the task image with
``--build-arg TENSORFLOW_PACKAGE="tensorflow[and-cuda]==2.21.0"`` (``make task-image TENSORFLOW_PACKAGE=...``) and
register that image; the CUDA build still runs on CPU-only nodes, so the default plan keeps working with it. The
accelerator becomes a node selector on the label Flyte's propeller is configured with (``gpu-device-node-label``,
by default ``k8s.amazonaws.com/accelerator``), so the GPU nodes must carry that label with this value.
"""

from __future__ import annotations

from flytekit import LaunchPlan

from workflows.neural_style_transfer import neural_style_transfer_wf

GPU_LAUNCH_PLAN_NAME = "neural_style_transfer_gpu"
#: A T4 node (g4dn.xlarge: 4 vCPUs, 16 GiB) is the smallest common GPU node; these requests fit on one.
GPU_ACCELERATOR = "nvidia-tesla-t4"
GPU_OPTIMIZE_CPU, GPU_OPTIMIZE_MEM = "3", "10Gi"

GPU_LAUNCH_PLAN = LaunchPlan.get_or_create(
    neural_style_transfer_wf,
    name=GPU_LAUNCH_PLAN_NAME,
    fixed_inputs={"optimize_gpu": "1"},
    default_inputs={
        "gpu_accelerator": GPU_ACCELERATOR,
        "optimize_cpu": GPU_OPTIMIZE_CPU,
        "optimize_mem": GPU_OPTIMIZE_MEM,
    },
)
