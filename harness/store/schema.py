"""The results schema, in one place.

A record is one JSON file per point, `<store>/<suite>/<point_id>.json`:

    schema_version  int     SCHEMA_VERSION below; part of the point id
    point_id        str     sha256 of the canonical point config + schema version (16 hex)
    run_id          str     the sweep invocation that wrote it (UTC time + short git sha)
    created_at      str     ISO-8601 UTC
    config          dict    the resolved point: suite, task, model, model_config, mode, sizes,
                            device, dtype, seed, warm-up/iteration settings
    status          str     ok | oom | error | timeout | crashed
    error           str?    traceback or reason when status != ok
    samples_ms      [float] raw per-iteration latencies
    latency_ms      dict    harness.measure.stats.summarize of samples_ms
    tokens_per_s    float   batch * seq_len / median latency
    memory_mb       dict    peak_alloc, peak_reserved, static_alloc, nvml_process_peak, peak_rss;
                            forward/train points on a GPU also backbone_peak_alloc and
                            backbone_static_alloc (one more iteration without the full logits),
                            backbone_how and logits_share (harness.tasks.forward_train); optional
                            and additive: older records lack them, and the schema version stays
    energy          dict    energy_j_per_token, avg_power_w, energy_window_s (GPU with NVML only)
    model_info      dict    params_total, params_active, flops_per_token, backend, and for
                            routed models `extra`: routing statistics of the last forward
    overhead_s      dict    process_start, import, build, measure, wall (per-point cost)
    decode          dict    suite=decode only (harness.tasks.decode): prefill_ms summary and samples,
                            generation_ms, prefill/generation tokens/s, state_mb (KV cache or
                            recurrent state after the prefill), state_mb_end, state_kind,
                            cuda_graphs, graph_steps/eager_steps, step_backend
    distributed     dict    suite=distributed only (harness.tasks.distributed): world_size,
                            per_rank (latency, all-to-all, memory, encoders held), single-
                            device latency, all-to-all median and share, error vs single device
    quality         dict    suite=quality only (harness.tasks.corpus_quality): corpus_id, tokenizer and its
                            sha256, training (curves, tokens, wall, status), test (per domain:
                            nll, tokens, bytes, ppl, bpb), test_bpb_mean (val and val_bpb_mean with
                            score_split val), routing, eval_capacity,
                            checkpoint (keep_checkpoints only: the saved model beside the record)
    synthetic       dict    synthetic-task points of suite=quality only (harness.tasks.synthetic): task,
                            train_lengths, training (curves, steps, wall, status; each val_curve
                            point [tokens, {accuracy at the training length, and `at`: {length:
                            {accuracy, scored}} where the point set probe_lengths: optional and
                            additive}]), accuracy ({length: {accuracy, scored}}), accuracy_at_train_lengths,
                            eval_capacity
    loss            dict    fixed-seed training runs only (harness.tasks.fixed_seed_loss): curve,
                            initial, final, steps, floor (ln branching), train_s
    env             dict    harness.measure.env.collect + clocks/throttle reasons after the point;
                            gpu_shared_by (points its launcher ran on the GPU at once) and
                            gpu_processes (compute processes NVML saw on it then, any launcher's;
                            optional and additive: older records lack it)
    isolation       dict?   mode (chain: a warm worker | point: a fresh process) and worker_point
                            (how many points the worker ran before this one); absent in records
                            written before warm workers existed, which all came from fresh processes
    profile         dict?   with profile=true only (harness.measure.profiling): trace (the file
                            `<point_id>.trace.json.gz` beside the record), by (self CUDA or CPU
                            time), top (name, calls, self_ms of the 10 costliest operators/kernels);
                            optional and additive, so the schema version (and every point id) stays

`harness.store.results.load()` flattens records into one row per point with the COLUMNS below
(MB means MiB, 2^20 bytes, as nvidia-smi prints). Config scalars become columns of their own
name; model config scalars become `model.<key>`. Two derived columns give one headline memory
per point whatever its device: `peak_memory_mb` (GPU allocated on a GPU, host RSS on a CPU)
and `peak_memory_kind`, which of the two it is. A corpus quality run also gets
`val_bpb_curve`, its learning curve as a JSON string `[[tokens, mean validation bpb], ...]`.
"""
from __future__ import annotations

SCHEMA_VERSION = 1
STATUSES = ("ok", "oom", "error", "timeout", "crashed")  # every status a stored record can have
OK = "ok"
DONE_STATUSES = ("ok", "oom")  # deterministic outcomes: a rerun skips them unless forced
FAILED_STATUSES = tuple(s for s in STATUSES if s != OK)
NOT_RUN = "not run"  # a sweep's summary row for a point skipped after a failure in its stop group; never stored

# column -> (path in the record, description)
COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {
    "point_id": (("point_id",), "point identifier (hash of the resolved config)"),
    "run_id": (("run_id",), "sweep invocation that wrote the record"),
    "created_at": (("created_at",), "when the record was written (UTC)"),
    "status": (("status",), " | ".join(STATUSES)),
    "error": (("error",), "error text when status != ok"),
    "latency_ms_p50": (("latency_ms", "median"), "median latency per iteration"),
    "latency_ms_p10": (("latency_ms", "p10"), "10th percentile latency"),
    "latency_ms_p90": (("latency_ms", "p90"), "90th percentile latency"),
    "latency_ms_iqr": (("latency_ms", "iqr"), "interquartile range of latency"),
    "latency_ms_ci_lo": (("latency_ms", "ci_lo"), "95% bootstrap CI of the median, low"),
    "latency_ms_ci_hi": (("latency_ms", "ci_hi"), "95% bootstrap CI of the median, high"),
    "latency_n": (("latency_ms", "n"), "number of timed iterations"),
    "latency_iqr_over_median": (("latency_ms", "iqr_over_median"), "relative spread"),
    "latency_noisy": (("latency_ms", "noisy"), "IQR/median above 10%"),
    "tokens_per_s": (("tokens_per_s",), "tokens processed per second at the median"),
    "peak_alloc_mb": (("memory_mb", "peak_alloc"), "torch.cuda.max_memory_allocated (headline)"),
    "peak_reserved_mb": (("memory_mb", "peak_reserved"), "torch.cuda.max_memory_reserved"),
    "static_alloc_mb": (("memory_mb", "static_alloc"), "allocated before the timed loop (weights, optimizer, inputs)"),
    "backbone_peak_alloc_mb": (("memory_mb", "backbone_peak_alloc"),
                               "peak allocated without the full logits (last-position logits / chunked CE)"),
    "backbone_static_alloc_mb": (("memory_mb", "backbone_static_alloc"), "allocated before the backbone iteration"),
    "backbone_how": (("memory_mb", "backbone_how"), "how the backbone iteration left the logits out"),
    "logits_share": (("memory_mb", "logits_share"), "share of the activation memory the full logits cost"),
    "nvml_process_peak_mb": (("memory_mb", "nvml_process_peak"), "NVML per-process peak (sampled every 10 ms)"),
    "peak_rss_mb": (("memory_mb", "peak_rss"), "peak resident host memory of the child process"),
    "energy_j_per_token": (("energy", "energy_j_per_token"), "NVML total-energy difference per token"),
    "avg_power_w": (("energy", "avg_power_w"), "mean board power over the energy window"),
    "params_total": (("model_info", "params_total"), "all parameters"),
    "params_active": (("model_info", "params_active"), "parameters used per token"),
    "flops_per_token": (("model_info", "flops_per_token"), "analytic forward FLOPs per token"),
    "backend": (("model_info", "backend"), "kernel backend that actually ran"),
    "routing_dropped_fraction": (("model_info", "extra", "routing", "dropped_fraction"),
                                 "share of routed assignments dropped by the capacity limit"),
    "routing_experts_used": (("model_info", "extra", "routing", "experts_used"), "encoders/experts that ran"),
    "routing_load_entropy_bits": (("model_info", "extra", "routing", "load_entropy_bits"),
                                  "entropy of the per-encoder load (log2 N when even)"),
    "prefill_ms_p50": (("decode", "prefill_ms", "median"), "decode suite: median prefill latency of the prompt"),
    "prefill_ms_ci_lo": (("decode", "prefill_ms", "ci_lo"), "decode suite: 95% CI of the prefill median, low"),
    "prefill_ms_ci_hi": (("decode", "prefill_ms", "ci_hi"), "decode suite: 95% CI of the prefill median, high"),
    "prefill_tokens_per_s": (("decode", "prefill_tokens_per_s"), "decode suite: prompt tokens per second"),
    "generation_tokens_per_s": (("decode", "generation_tokens_per_s"),
                                "decode suite: generated tokens per second, prefill included"),
    "state_mb": (("decode", "state_mb"), "decode suite: KV cache or recurrent state after the prefill"),
    "state_mb_end": (("decode", "state_mb_end"), "decode suite: the same after the last generated token"),
    "state_kind": (("decode", "state_kind"), "decode suite: kv_cache | recurrent"),
    "step_backend": (("decode", "step_backend"), "decode suite: kernels of the one-token step"),
    "graph_steps": (("decode", "graph_steps"), "decode suite: steps replayed from the CUDA graph (last generation)"),
    "world_size": (("distributed", "world_size"), "distributed suite: ranks the swarm's encoders are spread over"),
    "all_to_all_ms": (("distributed", "all_to_all_ms_median"), "distributed suite: all-to-all time per forward, median (rank 0)"),
    "all_to_all_fraction": (("distributed", "all_to_all_fraction"), "distributed suite: all-to-all share of the forward"),
    "single_device_ms_p50": (("distributed", "single_device_latency_ms", "median"),
                             "distributed suite: the same swarm and batch on one device"),
    "rel_err_vs_single": (("distributed", "rel_err_vs_single"), "distributed suite: ||dist - single|| / ||single||"),
    "test_bpb_mean": (("quality", "test_bpb_mean"), "quality suite: held-out bits per byte, mean over domains"),
    "val_bpb_mean": (("quality", "val_bpb_mean"), "quality suite, lr sweep (score_split val): validation bits per byte"),
    "eval_capacity": (("quality", "eval_capacity"), "quality suite: routing capacity while scoring"),
    "test_k_mean": (("quality", "routing", "k_mean"), "quality suite: a swarm's encoders per chunk on test text"),
    "corpus_id": (("quality", "corpus_id"), "quality suite: the corpus trained and scored on"),
    "tokenizer_sha256": (("quality", "tokenizer_sha256"), "quality suite: the tokenizer's hash"),
    "loss_initial": (("loss", "initial"), "fixed-seed training run: loss at the first step"),
    "loss_final": (("loss", "final"), "fixed-seed training run: loss at the last step"),
    "loss_steps": (("loss", "steps"), "fixed-seed training run: steps taken"),
    "overhead_process_start_s": (("overhead_s", "process_start"), "spawn to child main"),
    "overhead_import_s": (("overhead_s", "import"), "importing the task (torch, models)"),
    "overhead_build_s": (("overhead_s", "build"), "building the model and inputs"),
    "overhead_wall_s": (("overhead_s", "wall"), "whole point, request to result"),
    "overhead_first_call_s": (("overhead_s", "first_call"), "the first warm-up call (kernel loading, compilation, autotuning)"),
    "isolation": (("isolation", "mode"), "chain (warm worker) | point (fresh process); older records: point"),
    "profile_trace": (("profile", "trace"), "torch.profiler trace beside the record (profile=true)"),
    "gpu_name": (("env", "gpu_name"), "GPU model"),
    "gpu_uuid": (("env", "gpu_uuid"), "GPU UUID"),
    "driver_version": (("env", "driver_version"), "NVIDIA driver"),
    "sm_clock_mhz": (("env", "sm_clock_mhz"), "SM clock after the point"),
    "throttle_reasons": (("env", "throttle_reasons"), "active clock-event reasons after the point"),
    "git_sha": (("env", "git_sha"), "commit of the harness"),
    "git_dirty": (("env", "git_dirty"), "uncommitted changes to tracked files"),
    "torch_version": (("env", "packages", "torch"), "torch"),
    "cuda_version": (("env", "torch_cuda"), "CUDA torch was built with"),
    "transformers_version": (("env", "packages", "transformers"), "transformers"),
    "mamba_ssm_version": (("env", "packages", "mamba-ssm"), "mamba-ssm"),
    "causal_conv1d_version": (("env", "packages", "causal-conv1d"), "causal-conv1d"),
}
