#!/usr/bin/env python3
"""float64 reference values for tests/engine/dpo_test.cpp (DpoLoss.*Torch*).

The losses as TRL's DPOTrainer.dpo_loss writes them, with torch's
logsigmoid, and their derivatives by torch.autograd, for hand-picked log-
probabilities. Run: python3 tests/engine/dpo_reference.py (prints C++ rows).
"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

# (policy_chosen, policy_rejected, reference_chosen, reference_rejected)
PAIRS = [(-12.5, -14.25, -13.0, -13.5), (-3.0, -2.0, -3.5, -2.25), (-40.0, -55.0, -41.0, -50.0), (-7.0, -7.0, -7.0, -7.0)]
CASES = [("sigmoid", 0.1, 0.0), ("sigmoid", 0.5, 0.2), ("robust", 0.3, 0.1), ("ipo", 0.1, 0.0), ("ipo", 2.0, 0.0)]


def loss(kind, beta, eps, pc, pr, rc, rr):
    logits = (pc - rc) - (pr - rr)
    if kind == "sigmoid":
        return -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps
    if kind == "robust":
        return (-F.logsigmoid(beta * logits) * (1 - eps) + F.logsigmoid(-beta * logits) * eps) / (1 - 2 * eps)
    return (logits - 1 / (2 * beta)) ** 2


for kind, beta, eps in CASES:
    for p in PAIRS:
        pc, pr = torch.tensor(p[0], requires_grad=True), torch.tensor(p[1], requires_grad=True)
        value = loss(kind, beta, eps, pc, pr, torch.tensor(p[2]), torch.tensor(p[3]))
        value.backward()
        print(f'    {{"{kind}", {beta}, {eps}, {{{p[0]}, {p[1]}, {p[2]}, {p[3]}}}, {value.item()!r}, {pc.grad.item()!r}, {pr.grad.item()!r}}},')
