"""PyTorch reference for the two networks of SPEC §4, written from the spec independently of the
Rust code. Loads the Rust-trained weights with load_state_dict(strict=True), runs the fixed input
in eval mode and writes the outputs for the Rust test to compare.

usage: parity.py DIR   (reads DIR/{base,enhanced}.safetensors, DIR/{base,enhanced}.json, DIR/input.safetensors;
                        writes DIR/{base,enhanced}_out.safetensors)
"""
import json
import sys

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file


class LSTMDualHead(nn.Module):
    def __init__(self, input_size, hidden_size=64, dropout=0.3):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=1, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc_shared = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Dropout(dropout))
        self.fc_direction = nn.Linear(hidden_size, 2)
        self.fc_magnitude = nn.Linear(hidden_size, 5)

    def forward(self, x):
        out, _ = self.lstm(x)
        h = self.fc_shared(self.dropout(out[:, -1]))
        return self.fc_direction(h), self.fc_magnitude(h)


class LSTMDualHeadEnhanced(nn.Module):
    def __init__(self, input_size, hidden_size=128, num_layers=3, dropout=0.2):
        super().__init__()
        h2 = hidden_size * 2
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout, bidirectional=True)
        self.attention = nn.Linear(h2, 1)
        self.skip = nn.Sequential(nn.Linear(input_size, h2), nn.ReLU())
        self.fc_shared = nn.Sequential(
            nn.Linear(2 * h2, h2), nn.LayerNorm(h2), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(h2, hidden_size), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size // 2), nn.ReLU(),
        )
        self.fc_direction = nn.Linear(hidden_size // 2, 2)
        self.fc_magnitude = nn.Linear(hidden_size // 2, 5)

    def forward(self, x):
        out, _ = self.lstm(x)                               # [B, T, 2h]
        w = torch.softmax(self.attention(out), dim=1)       # [B, T, 1]
        context = (w * out).sum(dim=1)                      # [B, 2h]
        skip = self.skip(x[:, -1, :])                       # [B, 2h]
        h = self.fc_shared(torch.cat([context, skip], dim=1))
        return self.fc_direction(h), self.fc_magnitude(h)


def build(meta):
    if meta["kind"] == "LSTMDualHead":
        return LSTMDualHead(meta["input_size"], meta["hidden_size"], meta["dropout"])
    if meta["kind"] == "LSTMDualHeadEnhanced":
        return LSTMDualHeadEnhanced(meta["input_size"], meta["hidden_size"], meta["num_layers"], meta["dropout"])
    raise SystemExit(f"unknown kind {meta['kind']}")


def main():
    d = sys.argv[1]
    x = load_file(f"{d}/input.safetensors")["x"]
    for name in ("base", "enhanced"):
        with open(f"{d}/{name}.json") as f:
            meta = json.load(f)
        model = build(meta)
        model.load_state_dict(load_file(f"{d}/{name}.safetensors"), strict=True)
        model.eval()
        with torch.no_grad():
            logits, mags = model(x)
        save_file({"logits": logits.contiguous(), "magnitudes": mags.contiguous()}, f"{d}/{name}_out.safetensors")
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, strict load ok")


if __name__ == "__main__":
    main()
