"""`slmforge plan` across GPUs (DDP / FSDP / ZeRO-3 on 1-8 GPUs) and the memory preference methods add.

Hand-checked figures: Qwen2.5-14B has 14.77e9 parameters (48 layers × 275.25M linear weights + 2 ×
152064 × 5120 untied embeddings + norms). A full fine-tune with fp32 master weights, fp32 gradients
and AdamW's two fp32 moments holds 16 bytes per parameter = 236 GB (220 GiB): no 80 GB GPU holds it,
and DDP replicates it, so only sharding helps: FSDP over 4 GPUs leaves 55 GiB of states per GPU.
"""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from slmforge.core.errors import SlmforgeError
from slmforge.core.recipe import load, validate
from slmforge.orchestrate.distributed import split_global_batch
from slmforge.orchestrate.plan_scale import ASSUMED_GPU, layer_params, parse_gpu_memory, per_device_batch, root_params, scale_out, smallest_fit
from slmforge.runtime.memory import GB, KNOWN, estimate, extras_for

Q14 = KNOWN["Qwen/Qwen2.5-14B"]
Q05 = KNOWN["Qwen/Qwen2.5-0.5B"]


def chefbot(**train):
    raw = yaml.safe_load(open("recipes/chefbot-qwen14b.yaml", encoding="utf-8"))
    raw["train"].update(train)
    return validate(raw)


def by_setup(recipe):
    return {(s.strategy, s.gpus): s for s in scale_out(recipe, Q14)}


def test_qwen14b_has_the_parameter_count_of_its_model_card():
    assert 14.7e9 < Q14.params < 14.8e9
    assert layer_params(Q14) * Q14.layers + root_params(Q14) == Q14.params


def test_14b_full_fine_tune_fits_no_single_80gb_gpu_but_fsdp_on_4():
    setups = by_setup(chefbot(method="full"))
    single = setups[("ddp", 1)].memory
    assert single.weights + single.gradients + single.optimizer == pytest.approx(16 * Q14.params)  # 220 GiB
    assert single.total > 200 * GB
    # DDP keeps every state on every GPU and adds all-reduce buckets the size of the gradients.
    assert setups[("ddp", 8)].memory.gradients == pytest.approx(2 * single.gradients)
    fsdp4 = setups[("fsdp", 4)].memory
    assert fsdp4.gradients + fsdp4.optimizer == pytest.approx(12 * Q14.params / 4)
    assert 55 * GB < fsdp4.total < 72 * GB  # 55 GiB of sharded states + one gathered root and two layers
    assert setups[("fsdp", 2)].memory.total > 0.9 * ASSUMED_GPU
    best = smallest_fit(list(setups.values()), ASSUMED_GPU)
    assert (best.strategy, best.gpus) == ("fsdp", 4)
    assert setups[("zero3", 8)].memory.total < setups[("zero3", 4)].memory.total < setups[("zero3", 2)].memory.total


def test_14b_lora_fits_one_80gb_gpu_and_a_24gb_card_needs_sharding():
    setups = by_setup(chefbot())  # the shipped recipe: LoRA r16, batch 2 × 1024, checkpointing
    best = smallest_fit(list(setups.values()), ASSUMED_GPU)
    assert (best.gpus, best.memory.total < 72 * GB) == (1, True)
    # On 24 GB cards the fp32 frozen base (55 GiB) must be sharded: over 4 GPUs that is 13.8 GiB each, but
    # FSDP also keeps its root unit gathered (embeddings + untied head, 3.1e9 fp32 parameters = 5.8 GiB)
    # and lands at 24.5 GiB; ZeRO-3 gathers one module at a time in bf16 (2.9 GiB) and fits at ~19.7 GiB.
    small = smallest_fit(list(setups.values()), parse_gpu_memory("24GB"))
    assert (small.strategy, small.gpus) == ("zero3", 4)
    assert 19 * GB < small.memory.total < 21.6 * GB < setups[("fsdp", 4)].memory.total


def test_per_device_batch_is_the_one_train_nproc_uses():
    for batch, accum in ((2, 8), (8, 1), (4, 4), (16, 2)):
        for gpus in (1, 2, 4, 8):
            if (batch * accum) % gpus == 0:
                assert per_device_batch(batch, accum, gpus) == split_global_batch(batch, accum, gpus).per_device


def test_gpu_memory_sizes_parse_and_a_bad_one_says_the_format():
    assert parse_gpu_memory("80GB") == parse_gpu_memory("80") == parse_gpu_memory("80GiB") == 80 * GB
    with pytest.raises(SlmforgeError, match="--gpu-memory: expected a size like 80GB"):
        parse_gpu_memory("lots")


def test_dpo_and_kto_with_full_weights_hold_a_reference_copy_lora_and_orpo_none():
    base = estimate(Q05, "full", 4, 256)
    dpo_full = estimate(Q05, "full", 4, 256, extras=extras_for("dpo", "full"))
    assert dpo_full.reference == pytest.approx(Q05.params * 4)  # a frozen fp32 copy
    assert dpo_full.activations == pytest.approx(2 * base.activations)  # chosen + rejected per pair
    assert estimate(Q05, "full", 4, 256, extras=extras_for("kto", "full")).reference == pytest.approx(Q05.params * 4)
    assert estimate(Q05, "lora", 4, 256, extras=extras_for("dpo", "lora")).reference == 0  # the frozen base is the reference
    orpo = estimate(Q05, "full", 4, 256, extras=extras_for("orpo", "full"))
    assert orpo.reference == 0 and orpo.activations == pytest.approx(dpo_full.activations)


def test_reward_model_trades_the_vocabulary_head_for_a_score_head():
    q7 = KNOWN["Qwen/Qwen2.5-7B"]  # untied: the 152064 × 3584 LM head is dropped
    sft = estimate(q7, "full", 4, 256)
    reward = estimate(q7, "full", 4, 256, extras=extras_for("reward", "full"))
    assert sft.weights - reward.weights == pytest.approx((q7.vocab * q7.hidden - q7.hidden) * 4)
    assert reward.logits == pytest.approx(2 * 4 * 256 * q7.hidden * 4)  # no vocabulary logits, one hidden-state gradient
    lora = estimate(q7, "lora", 4, 256, extras=extras_for("reward", "lora"))
    assert lora.gradients == pytest.approx((q7.lora_params(16) + q7.hidden) * 4)  # the score head trains beside the adapter


def test_grpo_counts_the_kv_cache_and_logits_of_a_group_of_completions():
    # 8 completions of 512 tokens after a 256-token prompt, 0.5B: KV = 8 × 768 tokens × 24 layers × 2 × 128 × 4 B.
    m = estimate(Q05, "lora", 8, 768, extras=extras_for("grpo", "lora", 256, 8, 512))
    kv = 8 * 768 * 24 * 2 * 128 * 4
    logits = 8 * 512 * 151936 * 4
    assert m.generation == pytest.approx(kv + logits)
    assert m.reference == 0  # TRL's default beta 0: no reference model
    assert estimate(Q05, "full", 8, 768, extras=extras_for("grpo", "full", 256, 8, 512, grpo_beta=0.04)).reference > 0


def test_plan_prints_the_per_gpu_table_and_the_smallest_setup(tmp_path):
    from slmforge.orchestrate.cli import app

    result = CliRunner().invoke(app, ["plan", "recipes/chefbot-qwen14b.yaml", "--set", "train.method=full", "--gpu-memory", "80GB",
                                      "--runs", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "FSDP (FULL_SHARD)" in result.output and "ZeRO-3" in result.output and "8 GPUs" in result.output
    assert "smallest setup that fits: 4 GPUs with FSDP (FULL_SHARD)" in result.output


def test_plan_of_a_dpo_recipe_shows_the_reference_row(tmp_path):
    from slmforge.orchestrate.cli import app

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "p", "model": {"id": "Qwen/Qwen2.5-0.5B-Instruct"},
                                      "data": {"path": "x.jsonl", "format": "preference"}, "train": {"method": "dpo"}}))
    assert load(recipe).train.method == "dpo"
    result = CliRunner().invoke(app, ["plan", str(recipe), "--runs", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "reference" in result.output and "dpo · full" in result.output and "dpo (lora)" in result.output


def test_a_bad_gpu_memory_exits_2_with_one_line(tmp_path):
    from slmforge.orchestrate.cli import app

    result = CliRunner().invoke(app, ["plan", "recipes/chefbot-qwen14b.yaml", "--gpu-memory", "huge", "--runs", str(tmp_path)])
    assert result.exit_code == 2 and "--gpu-memory: expected a size like 80GB" in result.output
