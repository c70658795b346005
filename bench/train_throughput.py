#!/usr/bin/env python3
"""Training throughput of PyTorch eager on the same network and training step as the Rust bench
(common/benches/train_throughput.rs), for bench/run_train_bench.sh.

LSTMDualHeadEnhanced (SPEC §4, hidden 128) written as a plain nn.Module with the same parameter
names as the Rust model, trained with the improved strategy's step (SPEC §6): shuffled batches
of 32, augmentation x*U(0.98, 1.02) + N(0, 0.01), cross-entropy + the `full` regression loss
(formulas of common/src/training/losses.rs), backward, clip_grad_norm_(1.0), AdamW(lr 5e-4,
wd 0.01), CosineAnnealingWarmRestarts(T_0=50, T_mult=2, eta_min=1e-5) stepped per epoch, and the
same three `.item()` reads per batch as the Rust loop. CPU, fixed thread count.

Environment: BENCH_SAMPLES (512), BENCH_EPOCHS (3), BENCH_THREADS (2), BENCH_SEED (0).
Prints one JSON line.
"""
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-8
VAR_FLOOR = 1e-12
QUANTILES = (0.1, 0.5, 0.9)


class LSTMDualHeadEnhanced(nn.Module):
    def __init__(self, input_size=21, hidden=128, num_layers=3, dropout=0.2):
        super().__init__()
        h2 = 2 * hidden
        self.lstm = nn.LSTM(input_size, hidden, num_layers, batch_first=True, dropout=dropout,
                            bidirectional=True)
        self.attention = nn.Linear(h2, 1)
        self.skip = nn.Sequential(nn.Linear(input_size, h2), nn.ReLU())
        self.fc_shared = nn.Sequential(
            nn.Linear(2 * h2, h2), nn.LayerNorm(h2), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(h2, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden // 2), nn.ReLU())
        self.fc_direction = nn.Linear(hidden // 2, 2)
        self.fc_magnitude = nn.Linear(hidden // 2, 5)
        for name, p in self.lstm.named_parameters():
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(p)
            elif name.startswith("weight_hh"):
                nn.init.orthogonal_(p)
            else:
                nn.init.zeros_(p)
        for m in [self.attention, self.skip[0], self.fc_shared[0], self.fc_shared[4], self.fc_shared[7]]:
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        for m in [self.fc_direction, self.fc_magnitude]:
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        out, _ = self.lstm(x)                                # [B, T, 2h]
        w = torch.softmax(self.attention(out), dim=1)        # [B, T, 1]
        ctx = (out * w).sum(dim=1)                           # [B, 2h]
        skip = self.skip(x[:, -1, :])
        h = self.fc_shared(torch.cat([ctx, skip], dim=1))
        return self.fc_direction(h), self.fc_magnitude(h)


def pop_std(t):
    return ((t - t.mean()) ** 2).mean().add(VAR_FLOOR).sqrt()


def pop_std_dim0(t):
    return ((t - t.mean(dim=0, keepdim=True)) ** 2).mean(dim=0).add(VAR_FLOOR).sqrt()


def full_loss(pred, target):
    e = target - pred
    mse = (e ** 2).mean()
    st = pop_std(target)
    v = (pop_std(pred) - st).abs() / (st + EPS)
    stk = pop_std_dim0(target)
    v_step = ((pop_std_dim0(pred) - stk).abs() / (stk + EPS)).mean()
    d = F.relu(-pred * target).mean() / ((target ** 2).mean() + EPS)
    dp, dt = pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1]
    d_seq = F.relu(-dp * dt).mean() / ((dt ** 2).mean() + EPS)
    q = sum(torch.maximum(qq * e, (qq - 1) * e).mean() for qq in QUANTILES) / len(QUANTILES)
    return mse + 0.35 * v + 0.15 * v_step + 0.1 * d + 0.1 * d_seq + 0.05 * q


def main():
    n = int(os.environ.get("BENCH_SAMPLES", 512))
    epochs = int(os.environ.get("BENCH_EPOCHS", 3))
    threads = int(os.environ.get("BENCH_THREADS", 2))
    seed = int(os.environ.get("BENCH_SEED", 0))
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)

    x = torch.randn(n, 60, 21)
    y_dir = torch.randint(0, 2, (n,))
    y_mag = torch.randn(n, 5)
    model = LSTMDualHeadEnhanced()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=50, T_mult=2, eta_min=1e-5)
    batch = 32

    def run(n_epochs):
        batches, last = 0, float("nan")
        for _ in range(n_epochs):
            order = torch.randperm(n, generator=gen)
            total, seen = 0.0, 0
            for i in range(0, n, batch):
                idx = order[i:i + batch]
                xb = x.index_select(0, idx)
                b = xb.shape[0]
                scale = torch.empty(b, 1, 1).uniform_(0.98, 1.02, generator=gen)
                xb = xb * scale + torch.randn(xb.shape, generator=gen) * 0.01
                yd, ym = y_dir.index_select(0, idx), y_mag.index_select(0, idx)
                logits, mags = model(xb)
                cls = F.cross_entropy(logits, yd)
                reg = full_loss(mags, ym)
                loss = cls * 1.0 + reg * 1.0
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                lv = loss.item()
                cls.item()
                reg.item()
                total += lv * b
                seen += b
                batches += 1
            sched.step()
            last = total / seen
        return batches, last

    run(1)  # warm-up, like the Rust side
    start, cpu_start = time.perf_counter(), time.process_time()
    batches, last = run(epochs)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start  # user + system, all threads
    print(json.dumps({
        "impl": "pytorch-eager",
        "torch": torch.__version__,
        "model": "LSTMDualHeadEnhanced(hidden=128)",
        "samples": n,
        "epochs": epochs,
        "batches": batches,
        "threads": threads,
        "seconds": seconds,
        "samples_per_s": epochs * n / seconds,
        "cpu_seconds": cpu_seconds,
        "samples_per_cpu_s": epochs * n / cpu_seconds,
        "final_train_loss": last,
    }))


if __name__ == "__main__":
    main()
