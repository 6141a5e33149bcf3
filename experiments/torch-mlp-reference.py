"""PyTorch reference for the mlp's MNIST target, on quant-trim's own split.

Trains the zoo's mlp (784-256-10, ReLU) with the issue's recipe -- Adam (lr 1e-3, betas 0.9/0.999,
eps 1e-8), batch 64, 10 epochs, mean cross-entropy, standardised inputs -- on the 8,000/2,000 split
written by `experiments/export-mlp-reference.ts`, and prints the test accuracy after every epoch:

  same-start  from quant-trim's seed-0 initial weights, on quant-trim's seed-0 batch order: a third
              engine on the identical run (the tfjs parity check is the second);
  torch-seeds PyTorch's own runs: torch.manual_seed(s), nn.Linear's default initialisation, a fresh
              torch.randperm shuffle each epoch (what DataLoader(shuffle=True) draws), for s in 0..S-1.

Needs Debian's python3-torch (CPU); it is an experiment, not part of `npm test`.
Run: npx tsx experiments/export-mlp-reference.ts runs/torch-ref
     /usr/bin/python3 experiments/torch-mlp-reference.py runs/torch-ref [seeds]
"""

import json
import os
import sys

import numpy as np
import torch
from torch import nn


def load(folder):
    with open(os.path.join(folder, "manifest.json")) as f:
        m = json.load(f)
    px = m["pixels"]

    def read(name, dtype, shape):
        a = np.fromfile(os.path.join(folder, name), dtype=dtype)
        if a.size != int(np.prod(shape)):
            sys.exit(f"{name}: expected {int(np.prod(shape))} values, found {a.size}")
        return torch.from_numpy(a.reshape(shape).copy())

    data = {
        "train_x": read("train-x.f32", "<f4", (m["train"], px)),
        "train_y": read("train-y.u8", "u1", (m["train"],)).long(),
        "test_x": read("test-x.f32", "<f4", (m["test"], px)),
        "test_y": read("test-y.u8", "u1", (m["test"],)).long(),
        "order": read("order.i32", "<i4", (m["epochs"], m["train"])).long(),
        "init": {k: read(f"init-{k}.f32", "<f4", tuple(s)) for k, s in m["params"].items()},
        "epochs": m["epochs"],
    }
    return data


def mlp():
    # Same layer indices as quant-trim's Sequential(Flatten, Linear, ReLU, Linear), so state names match.
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def accuracy(model, x, y):
    with torch.no_grad():
        # Count in integers: a float32 mean of 1,900 hits in 2,000 reads 0.94999999, not 0.95.
        return (model(x).argmax(1) == y).sum().item() / y.numel()


def train(model, data, orders):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = nn.CrossEntropyLoss()
    per_epoch = []
    for order in orders():
        model.train()
        for start in range(0, order.numel(), 64):
            idx = order[start : start + 64]
            opt.zero_grad()
            loss_fn(model(data["train_x"][idx]), data["train_y"][idx]).backward()
            opt.step()
        model.eval()
        per_epoch.append(accuracy(model, data["test_x"], data["test_y"]))
    return per_epoch


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: torch-mlp-reference.py <folder from export-mlp-reference.ts> [seeds]")
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.set_num_threads(1)
    data = load(sys.argv[1])
    epochs = data["epochs"]

    model = mlp()
    model.load_state_dict(data["init"])
    same_start = train(model, data, lambda: iter(data["order"]))

    torch_seeds = []
    for s in range(seeds):
        torch.manual_seed(s)
        model = mlp()
        n = data["train_x"].shape[0]
        torch_seeds.append(train(model, data, lambda: (torch.randperm(n) for _ in range(epochs))))

    final = np.array([run[-1] for run in torch_seeds]) * 100
    print(
        json.dumps(
            {
                "experiment": "torch-mlp-reference",
                "torch": torch.__version__,
                "epochs": epochs,
                "sameStart": same_start,
                "torchSeeds": [run[-1] for run in torch_seeds],
                "torchSeedsMean": round(float(final.mean()), 3),
                "torchSeedsSd": round(float(final.std(ddof=1)), 3) if seeds > 1 else 0.0,
                "torchSeedsAtLeast95": int((final >= 95.0).sum()),
            }
        )
    )


if __name__ == "__main__":
    main()
