"""How much work one evaluation pass may do: (examples x samples) decodes that fit a memory budget.

Evaluation cost is dominated by decoding many z per example. What one decoded z costs in memory is
measured on the model itself (the outputs of every decoder layer, plus the likelihood's temporaries),
so the same budget gives small passes for a convolutional decoder and large ones for a small MLP.
"""

import torch
from torch import nn

from vae_lab.models.vae import VAE

CPU_BUDGET_MB = 32  # passes that stay near the CPU's caches: 1.8x faster than 128 MB for the pytorch_examples model
GPU_BUDGET_FRACTION = 0.25  # of the free GPU memory
LIKELIHOOD_TEMPORARIES = 6  # parameters, repeated x, mask and elementwise log p(x|z) terms per data element
# Compiled (VAE.compile_math), the likelihood's elementwise terms are fused into one reduction over the
# decoder's output: nothing of the data's size is held but the output itself. Passes of the same budget
# then hold about 4x the decodes for the pytorch_examples model, where the compiled evaluation runs faster
# (benchmarks/eval_iwae.py, K = 5000 on the 10,000 test digits: 1.40-1.45x its FLOP limit with one thread);
# smaller passes are slower (`--memory-budget-mb`: each call has a fixed cost).
COMPILED_LIKELIHOOD_TEMPORARIES = 0


@torch.no_grad()
def bytes_per_decode(vae: VAE, with_gradients: bool = False) -> int:
    """Memory one decoded z needs: every decoder layer's output, the likelihood's temporaries, z itself.

    with_gradients: the pass keeps activations for a backward pass (about twice the memory).
    """
    parameter = next(vae.decoder.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    sizes: list[int] = []

    def record(_module: nn.Module, _inputs: tuple, output: object) -> None:
        sizes.append(output.numel() if isinstance(output, torch.Tensor) else 0)

    leaves = [m for m in vae.decoder.modules() if not list(m.children()) and not isinstance(m, nn.Identity)]
    hooks = [leaf.register_forward_hook(record) for leaf in leaves]
    try:
        condition = torch.zeros(1, vae.condition_dim, device=device) if vae.condition_dim else None
        params = vae.generative(torch.zeros(1, vae.latent_dim, device=device), condition)
    finally:
        for hook in hooks:
            hook.remove()
    temporaries = COMPILED_LIKELIHOOD_TEMPORARIES if vae.math_compiled else LIKELIHOOD_TEMPORARIES
    elements = sum(sizes) + temporaries * params.numel() + 4 * vae.latent_dim
    return elements * params.element_size() * (2 if with_gradients else 1)


def budget_bytes(device: torch.device, budget_mb: float | None) -> int:
    """The budget in bytes: `budget_mb` (> 0) if given, else a default for the device."""
    if budget_mb is not None:
        return int(budget_mb * 2**20)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(GPU_BUDGET_FRACTION * free)
    return CPU_BUDGET_MB * 2**20


def pass_shape(num_samples: int, decodes_per_pass: int) -> tuple[int, int]:
    """(examples per batch, samples per chunk) so that examples * samples <= decodes_per_pass (at least 1 x 1).

    All K samples of an example go in one chunk when they fit; then as many examples as fit.
    """
    decodes_per_pass = max(1, decodes_per_pass)
    if decodes_per_pass >= num_samples:
        return decodes_per_pass // num_samples, num_samples
    return 1, decodes_per_pass


def decodes_per_pass(vae: VAE, device: torch.device, budget_mb: float | None, with_gradients: bool = False) -> int:
    return max(1, budget_bytes(device, budget_mb) // bytes_per_decode(vae, with_gradients))
