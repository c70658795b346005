"""PyTorch forecast of a pooled version (SPEC §14.3), from its stored form only: the metadata
JSON (architecture, `target_scale`, and `pool.members[i].norm` per member) and the safetensors
weights, loaded with strict=True into parity.py's independently written module. Each member's raw
windows are standardised with that member's own statistics. A network with a symbol embedding
(`symbol_embedding_dim` > 0) is the same module reading 21 + dim columns, with
`symbol_embedding = nn.Embedding(n_symbols, dim)` at its root: member i's row is appended to
every time step.

usage: pooled_forecast.py DIR   (reads DIR/metadata.json, DIR/weights.safetensors,
                                 DIR/windows.safetensors with one [n, 60, 21] tensor per member;
                                 writes DIR/out.safetensors with SYMBOL.prob_up and SYMBOL.magnitudes)
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch.nn as nn  # noqa: E402
from parity import build  # noqa: E402


def pooled_model(meta):
    dim = int(meta.get("symbol_embedding_dim", 0))
    model = build({**meta, "input_size": meta["input_size"] + dim})
    if dim > 0:
        model.symbol_embedding = nn.Embedding(int(meta["n_symbols"]), dim)
    return model


def forecast(model, x, member):
    if hasattr(model, "symbol_embedding"):
        e = model.symbol_embedding(torch.full((x.shape[0],), member, dtype=torch.long))
        x = torch.cat([x, e[:, None, :].expand(-1, x.shape[1], -1)], dim=2)
    return model(x)


def main():
    d = sys.argv[1]
    with open(f"{d}/metadata.json") as f:
        meta = json.load(f)
    model = pooled_model(meta)
    model.load_state_dict(load_file(f"{d}/weights.safetensors"), strict=True)
    model.eval()
    scale = float(meta["hyperparameters"].get("target_scale", 1.0))
    windows = load_file(f"{d}/windows.safetensors")
    out = {}
    for i, member in enumerate(meta["pool"]["members"]):
        sym = member["symbol"]
        mean = torch.tensor(member["norm"]["mean"], dtype=torch.float32)
        std = torch.tensor(member["norm"]["std"], dtype=torch.float32)
        x = (windows[sym] - mean) / std
        with torch.no_grad():
            logits, mags = forecast(model, x, i)
        out[f"{sym}.prob_up"] = torch.softmax(logits, dim=-1)[:, 1].contiguous()
        out[f"{sym}.magnitudes"] = (mags / scale).contiguous()
    save_file(out, f"{d}/out.safetensors")
    print(f"{len(meta['pool']['members'])} members, strict load ok")


if __name__ == "__main__":
    main()
