"""Adafactor for FSDP-sharded parameters."""

from __future__ import annotations

import torch
from torch.distributed.tensor import DTensor
from transformers.optimization import Adafactor


class ShardAwareAdafactor(Adafactor):
    """transformers' Adafactor, whose state for a DTensor (FSDP-sharded) parameter is made of DTensors before its
    first step: Adafactor's own arithmetic then runs on the whole tensor, row and column moments and update RMS
    included, exactly as in one process (transformers would create plain tensors and fail). Plain parameters get
    transformers' Adafactor unchanged."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if isinstance(p.grad, DTensor) and not self.state[p]:
                    self.state[p].update(self._dtensor_state(group, p.grad))
        return super().step(closure)

    def _dtensor_state(self, group: dict, grad: DTensor) -> dict:
        zeros = torch.zeros_like(grad, dtype=torch.float32)
        factored, use_first_moment = self._get_options(group, grad.shape)
        state = {"step": 0, "RMS": 0}
        if use_first_moment:
            state["exp_avg"] = zeros.clone()
        if factored:  # the reductions Adafactor applies to the squared gradient, so the placements match
            state["exp_avg_sq_row"], state["exp_avg_sq_col"] = zeros.mean(dim=-1), zeros.mean(dim=-2)
        else:
            state["exp_avg_sq"] = zeros.clone()
        return state
