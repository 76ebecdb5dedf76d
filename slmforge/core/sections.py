"""The sections of a recipe: one pydantic model per stage, every key with a default and a description.

Every section forbids unknown keys (a typo fails instead of falling back to a default). Rules that
span sections live on the Recipe itself (core/recipe.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# train.report_to: the loggers passed through to transformers, and the module each needs installed.
REPORTERS = {"wandb": "wandb", "mlflow": "mlflow", "comet_ml": "comet_ml", "clearml": "clearml", "neptune": "neptune",
             "dvclive": "dvclive", "trackio": "trackio", "swanlab": "swanlab", "codecarbon": "codecarbon"}


class Section(BaseModel):
    """Every recipe section forbids unknown keys: a typo must fail, not fall back to a default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------- model
class ModelSection(Section):
    id: str = Field("embedded:smollm2-135m", description="Hub id, local directory, .gguf file or embedded:NAME.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) for a hub id.")
    chat_template: str | None = Field(
        None, description="Jinja chat template to use when the tokenizer has none (or to replace it); 'chatml' for ChatML."
    )
    trust_remote_code: bool = Field(False, description="Run Python code shipped with a hub model. Off unless you trust it.")
    allow_pickle: bool = Field(False, description="Allow loading pickle .bin checkpoints (can run arbitrary code).")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
                        description="auto: CUDA when present (each distributed rank its own GPU), else the CPU; or cpu, cuda, cuda:N.")
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="Weights and compute: auto = bf16 on GPUs that have it, fp16 on older ones (T4), on a CPU bf16 only "
                            "where a measured matmul beats fp32; train.precision can set training's autocast apart.")
    attention: Literal["auto", "sdpa", "eager", "flash_attention_2"] = Field(
        "auto", description="auto: flash-attention 2 when installed on CUDA in 16 bits (then packing is padding-free), else sdpa.")


# --------------------------------------------------------------------------- data
class FieldNames(Section):
    input: str = Field("input", description="pairs: the prompt field.")
    output: str = Field("output", description="pairs: the reply field.")
    messages: str = Field("messages", description="messages: the field holding the OpenAI-style chat list.")
    prompt: str = Field("prompt", description="prompt_completion / preference: the prompt field.")
    completion: str = Field("completion", description="prompt_completion: the reply field.")
    chosen: str = Field("chosen", description="preference: the better reply.")
    rejected: str = Field("rejected", description="preference: the worse reply.")
    label: str = Field("label", description="unpaired: good/bad label of the reply (true/false, good/bad, yes/no, 1/0, thumbs up/down).")
    system: str | None = Field(None, description="Optional per-record system prompt field.")


class CorpusSource(Section):
    name: Literal["folksy", "prices"] = Field(..., description="Built-in corpus generator to create the data from.")
    seed: int = Field(0, description="Generator seed: same seed, same file.")
    size: int | None = Field(None, gt=0, description="Sayings (folksy) or items (prices); empty = the generator's default.")
    listing: Literal["full", "short"] = Field(
        "full", description="prices only: 'full' asks with every field of the listing; 'short' with only its category, title "
        "and condition, and no question (the recipe's system prompt asks): a third of the tokens, so a CPU fine-tune sees "
        "three times the listings in the same minutes.")

    @model_validator(mode="after")
    def _listing_is_for_prices(self) -> CorpusSource:
        if self.listing != "full" and self.name != "prices":
            raise ValueError(f"data.corpus.listing is an option of the prices corpus, not of {self.name}; remove it")
        return self


# Meta keys prepare writes on every test row when data.split.unseen is set, and eval reads back.
SPLIT_PART = "split_part"  # "seen" | "unseen"
UNSEEN_FIELDS = "unseen_fields"  # the fields whose held-out value put the row in the unseen part


class HoldOut(Section):
    field: str = Field(..., min_length=1, description="Meta field whose values are held out (e.g. meta_phrasing); rows without it are never held out.")
    share: float = Field(..., gt=0, lt=1, description="Share of the field's distinct values held out (at least one, never all).")


class SplitSection(Section):
    train: float = Field(0.90, ge=0, le=1, description="Share of rows for training.")
    val: float = Field(0.05, ge=0, le=1, description="Share of rows for validation (eval during training).")
    test: float = Field(0.05, ge=0, le=1, description="Share of rows held out for evaluation.")
    stratify: str | None = Field(None, description="Field whose values keep their shares in every split (e.g. meta_template).")
    group_by: str | None = Field(
        "reply",
        description="Rows sharing this value never land in two splits. 'reply' = the reply text; a field name; null = per row.",
    )
    seed: int = Field(0, description="Split seed: same seed, byte-identical split files.")
    unseen: list[HoldOut] = Field(
        default_factory=list,
        description="Generalization split: a share of each field's values never reaches train/val; their rows are the test split's "
                    "unseen part (the rest of test is its seen part, and eval scores both). A held-out row whose group trains is dropped.",
    )

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitSection:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must sum to 1, got {total:g}")
        if self.train <= 0:
            raise ValueError("train must be > 0")
        return self


class DataSection(Section):
    path: str | None = Field(None, description="JSONL, JSON array, CSV or Parquet file, or hf:NAME[:SPLIT] for a datasets hub id.")
    corpus: CorpusSource | None = Field(None, description="Generate the data with a built-in corpus instead of reading path.")
    format: Literal["pairs", "messages", "prompt_completion", "preference", "unpaired"] = Field(
        "pairs", description="Record shape (unpaired: prompt/input + completion/output + label, for train.method kto)."
    )
    fields: FieldNames = Field(default_factory=FieldNames, description="Field names per format.")
    system_prompt: str | None = Field(None, description="System prompt added to every example that has none.")
    on_error: Literal["fail", "skip"] = Field("fail", description="fail: stop listing the first problems; skip: drop and count them.")
    dedupe: bool = Field(True, description="Drop exact duplicate examples (counted as drops).")
    split: SplitSection = Field(default_factory=SplitSection)
    max_length: int = Field(512, gt=8, description="Tokens per example; longer examples are truncated (and counted).")
    num_proc: int | Literal["auto"] = Field("auto", description="Processes for tokenization; auto = all cores.")

    @model_validator(mode="after")
    def _one_source(self) -> DataSection:
        if self.path is None and self.corpus is None:
            raise ValueError("set data.path (a file) or data.corpus (a built-in generator)")
        if self.path is not None and self.corpus is not None:
            raise ValueError("set data.path or data.corpus, not both")
        return self


# --------------------------------------------------------------------------- train
class LoraSection(Section):
    r: int = Field(16, gt=0, description="LoRA rank.")
    alpha: int = Field(32, gt=0, description="LoRA alpha (scale = alpha / r).")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout. 0 (default) lets every adapter share its layer's saved "
                                                            "input; above 0 each adapted linear keeps its own dropped copy for backward.")
    target_modules: list[str] | Literal["all-linear"] = Field("all-linear", description="Modules to adapt.")


class PrefTrainSection(Section):
    """Preference methods (dpo, orpo, reward): what TRL's DPO/ORPO/Reward configs need beyond SFT's keys."""

    adapter: Literal["lora", "full"] = Field("lora", description="lora: train an adapter (the frozen base is DPO's reference, no second copy); full: all weights.")
    beta: float = Field(0.1, gt=0, description="dpo: KL strength to the reference; orpo: weight of the odds-ratio term (lambda).")
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust", "bco_pair", "apo_zero", "apo_down"] = Field(
        "sigmoid", description="dpo loss (sigmoid = the DPO paper's)."
    )
    max_length: int | None = Field(None, gt=8, description="Prompt + reply tokens; empty = data.max_length.")
    max_completion_length: int | None = Field(None, gt=0, description="orpo: reply tokens; empty = no separate cap.")
    truncation_mode: Literal["keep_start", "keep_end"] = Field("keep_end", description="dpo: which end of a too-long pair to keep (keep_end keeps the reply).")
    eval_pairs: int = Field(200, gt=0, description="Held-out test pairs scored before and after training (chosen-over-rejected accuracy).")
    desirable_weight: float = Field(1.0, gt=0, description="kto: loss weight of good answers; raise it when good ones are rarer than bad "
                                                           "(KTO's paper: keep weight × count of good ≈ 1–1.33 × weight × count of bad).")
    undesirable_weight: float = Field(1.0, gt=0, description="kto: loss weight of bad answers.")


class GrpoSection(Section):
    """grpo: online RL against a reward (TRL's GRPOTrainer, or RLOOTrainer); no value model."""

    algorithm: Literal["grpo", "rloo"] = Field("grpo", description="grpo: group-normalised advantages; rloo: leave-one-out baseline (TRL's RLOOTrainer).")
    reward: str | None = Field(None, description="module:function(prompts, completions, **kw) -> list[float] (prompts and completions as text), "
                                                 "a directory of a full sequence-classification reward model (train.method: reward, adapter full), "
                                                 "or judge (the judge section's endpoint and rubric, score 1-5).")
    num_generations: int = Field(4, ge=2, description="Completions sampled per prompt (the group whose mean is the baseline); divides batch_size.")
    max_completion_length: int = Field(64, gt=0, description="Tokens generated per completion.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the completions (too low: a group has no spread to learn from).")
    beta: float = Field(0.0, ge=0, description="KL penalty to the starting model (0: none and no reference pass, TRL's default).")
    eval_prompts: int = Field(32, gt=0, description="Held-out prompts answered (sampled at temperature, fixed seed) and rewarded before and after training.")
    eval_engine: Literal["transformers", "vllm"] = Field(
        "transformers", description="What answers the held-out prompts: transformers (in process, before and after training), or vllm "
                                    "(make vllm; both passes after training from one server: the starting model and the trained adapter; "
                                    "a full fine-tune starts a second server). Before and after always come from the same engine.")


class TrainSection(Section):
    method: Literal["full", "lora", "qlora", "dpo", "orpo", "kto", "reward", "grpo"] = Field("lora", description="Training method.")
    epochs: float = Field(1.0, gt=0, description="Passes over the training split (ignored when max_steps > 0).")
    max_steps: int = Field(-1, description="Stop after this many optimizer steps; -1 = use epochs.")
    batch_size: int = Field(8, gt=0, description="Examples per device per step.")
    grad_accum: int = Field(1, gt=0, description="Gradient accumulation steps.")
    lr: float = Field(2e-4, gt=0, description="Peak learning rate.")
    scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = Field("cosine", description="LR schedule.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps spent warming up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for activation memory.")
    micro_batch_tokens: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        "auto", description="Most tokens one forward pass holds; a step's batch is split into micro-batches that gradient "
                            "accumulation adds up (same examples and loss per step, less activation memory). auto: on CPU, split "
                            "only a forward pass that would save > 512 MB of activations, into passes of >= 256 tokens "
                            "(CPU throughput barely depends on it); on CUDA the whole batch; 0: never split.")
    packing: bool = Field(True, description="Pack short examples (no attention across examples).")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field("auto", description="auto: bf16 where the hardware has it.")
    liger_kernel: Literal["auto", "on", "off"] = Field(
        "auto", description="Liger's fused Triton kernels (RMSNorm, RoPE, SwiGLU, linear + cross-entropy without the logits). "
                            "auto: on CUDA when liger-kernel is installed; on: require them (CUDA + pip install liger-kernel); off: never.")
    seed: int = Field(42, description="Training seed.")
    eval_steps: int = Field(100, gt=0, description="Evaluate on val every N steps.")
    save_steps: int = Field(500, gt=0, description="Checkpoint every M steps.")
    save_total_limit: int = Field(3, gt=0, description="Keep the last K checkpoints.")
    logging_steps: int = Field(10, gt=0, description="Log every N steps.")
    early_stopping_patience: int | None = Field(None, gt=0, description="Stop after N evals without improvement.")
    report_to: list[str] = Field(default_factory=list, description="Extra loggers: wandb, mlflow, ... (TensorBoard is always on).")
    resume: str = Field("auto", description="auto: continue from the newest complete checkpoint; never: start over; or a checkpoint-N path.")
    lora: LoraSection = Field(default_factory=LoraSection)
    pref: PrefTrainSection = Field(default_factory=PrefTrainSection, description="dpo / orpo / reward settings.")
    grpo: GrpoSection = Field(default_factory=GrpoSection, description="grpo settings (reward, group size, completion length).")
    distributed: Literal["none", "ddp", "fsdp", "deepspeed"] = Field(
        "none", description="Multi-process strategy for `slmforge train --nproc N` (accelerate); batch_size × grad_accum stays the global batch."
    )
    zero_stage: Literal[2, 3] = Field(2, description="distributed deepspeed: ZeRO stage (2 shards optimizer states and gradients, 3 also the weights).")
    offload: Literal["none", "cpu"] = Field("none", description="distributed deepspeed: keep optimizer states (and with stage 3 the weights) in CPU memory.")

    @field_validator("report_to")
    @classmethod
    def _known_loggers(cls, names: list[str]) -> list[str]:
        for name in names:
            if name != "tensorboard" and name not in REPORTERS:
                raise ValueError(f"{name!r} is not a logger we pass through; use one of {', '.join(REPORTERS)}")
        return names


# --------------------------------------------------------------------------- later stages
class SpotcheckTargets(Section):
    min_good: float = Field(0.60, ge=0, le=1, description="Pass when more than this share of rated samples is Good.")
    max_bad: float = Field(0.10, ge=0, le=1, description="Pass when less than this share of rated samples is Bad.")


# What eval/results.json holds per model (slmforge/evaluate/scores.py), so a floor naming another fails at load.
FLOOR_METRICS = ("loss", "perplexity", "bleu", "rouge_l", "exact_match", "distinct_1", "distinct_2", "novelty", "exact_copies",
                 "near_copies", "empty_outputs", "coverage_labels", "coverage_missing", "coverage_tv", "degenerate", "top_frame_share",
                 "mean_words", "stopped", "sample_distinctness", "sample_identical", "mae", "mae_all", "rmse", "within_10pct",
                 "parse_failures")


class Bound(Section):
    min: float | None = Field(None, description="Pass when the metric is at least this.")
    max: float | None = Field(None, description="Pass when the metric is at most this.")

    @model_validator(mode="after")
    def _one_side_at_least(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


class FloorsSection(Section):
    """Pass/fail bars on the fine-tuned model's metrics, shown in the results and the report."""

    part: Literal["all", "seen", "unseen"] = Field("all", description="Which answers: the whole test split or its seen/unseen part (data.split.unseen).")
    metrics: dict[str, Bound] = Field(default_factory=dict, description="metric: {min, max}, e.g. degenerate: {max: 0.15}, mean_words: {min: 8, max: 16}.")


class EvalSection(Section):
    enabled: bool = Field(True, description="Run evaluation in `slmforge run`.")
    engine: Literal["transformers", "vllm"] = Field(
        "transformers", description="What generates the answers: transformers (in process), or vllm (make vllm; the same prompts, "
                                    "stop rule and sampling; loss is computed by transformers either way).")
    samples: int = Field(200, gt=0, description="Test prompts to generate answers for.")
    max_new_tokens: int = Field(64, gt=0, description="Generation length cap.")
    temperature: float = Field(0.0, ge=0, description="0 = greedy.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling.")
    batch_size: int = Field(16, gt=0, description="Generation batch size.")
    seed: int = Field(0, description="Sampling seed.")
    compare_base: bool = Field(True, description="Also evaluate the base model on the same prompts (the side-by-side table).")
    task: Literal["auto", "text", "number"] = Field(
        "auto", description="number: parse a number from outputs (MAE, RMSE, within 10 %); auto: number when references are numbers."
    )
    label_field: str | None = Field(None, description="Meta field whose coverage is measured (e.g. meta_template); empty = split.stratify.")
    group_field: str | None = Field("category", description="Meta field of the per-group median baseline (number task).")
    baselines: bool = Field(True, description="Number task: also score mean, per-group median and TF-IDF ridge baselines.")
    number_decoding: Literal["median", "greedy"] = Field(
        "median", description="Number task, greedy eval: median = where every training answer's number has one width (the prices "
                              "corpus writes 'Price is $0219'), re-choose each greedy answer's digits at the median of the model's "
                              "distribution over numbers (MAE's best point estimate; greedy's first digit ignores the magnitude); "
                              "greedy's own figures are kept beside it. greedy = the argmax digits, as `slmforge serve` answers.")
    near_copy: float = Field(0.85, gt=0, le=1, description="Similarity (0-1) to a training output at which a generation counts as a copy.")
    custom_metrics: list[str] = Field(default_factory=list, description="module:function(outputs, references, records) -> {name: value}.")
    spotcheck: int = Field(50, ge=0, description="Random samples written to eval/spotcheck.csv for human rating.")
    targets: SpotcheckTargets = Field(default_factory=SpotcheckTargets, description="Spot-check pass thresholds.")
    stock_frame_share: float = Field(0.20, gt=0, le=1, description="A 3-word frame in more than this share of answers makes them degenerate (stock).")
    diversity_prompts: int = Field(16, ge=0, description="Text task: the first N test prompts are also answered diversity_samples times by "
                                                         "sampling (how different several answers to one prompt are); 0 = off.")
    diversity_samples: int = Field(4, ge=2, description="Sampled answers per diversity prompt.")
    diversity_temperature: float = Field(0.8, gt=0, description="Temperature of those samples (prefs' default; top_p is eval.top_p).")
    floors: FloorsSection = Field(default_factory=FloorsSection, description="Bars the fine-tuned model must clear (pass/fail in results and report).")


class JudgeTargets(Section):
    mean: float = Field(3.5, ge=1, le=5, description="Pass when the mean judge score is at least this.")
    max_low_share: float = Field(0.10, ge=0, le=1, description="Pass when fewer than this share of samples score 1-2.")
    min_win_rate: float = Field(0.80, ge=0, le=1, description="`compare` passes when the fine-tuned model wins more than this share.")
    max_unjudged: float = Field(0.10, ge=0, le=1, description="Verdict 'not judged' (no pass/fail) when more than this share of "
                                                              "samples got an unparsable reply, an error or no reply.")


class JudgeServer(Section):
    command: str | None = Field(None, min_length=1, description="Shell command that starts the judge (vLLM, llama.cpp, `slmforge serve ...`).")
    vllm: str | None = Field(None, min_length=1, description="Instead of command: a model (directory, embedded: or GGUF id) that slmforge "
                                                           "serves with vLLM (make vllm) as judge.model on judge.endpoint's loopback port.")
    health: str | None = Field(None, description="URL that answers 200 once the judge is ready; empty = ENDPOINT/models.")
    startup_timeout: float = Field(600.0, gt=0, description="Seconds to wait for the health URL before giving up.")
    stop_timeout: float = Field(60.0, gt=0, description="Seconds to wait after SIGTERM before SIGKILL (until its memory is free).")

    @model_validator(mode="after")
    def _one_way_to_start(self) -> JudgeServer:
        if (self.command is None) == (self.vllm is None):
            raise ValueError("give command (a shell command that starts the judge) or vllm (a model slmforge serves with vLLM), one of them")
        return self


class JudgeSection(Section):
    enabled: bool = Field(False, description="Run LLM-as-judge in `slmforge run`.")
    endpoint: str | None = Field(None, description="OpenAI-compatible base URL of the judge.")
    model: str | None = Field(None, description="Judge model name.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the judge's API key.")
    rubric: str = Field("quality", description="folksy | quality | path to a rubric file.")
    samples: int = Field(200, gt=0, description="Samples to judge.")
    concurrency: int = Field(4, gt=0, description="Judge requests in flight at once.")
    timeout: float = Field(60.0, gt=0, description="Seconds one judge request may take before it is retried.")
    retries: int = Field(3, ge=0, description="Extra tries after a timeout, connection error, 429 or 5xx.")
    backoff: float = Field(1.0, ge=0, description="Seconds before the first retry; doubled on each further retry.")
    max_tokens: int = Field(128, gt=0, description="Length cap of a judge reply (a score and one sentence).")
    temperature: float = Field(0.0, ge=0, description="Judge sampling temperature; 0 = deterministic.")
    targets: JudgeTargets = Field(default_factory=JudgeTargets, description="Pass/fail thresholds.")
    server: JudgeServer | None = Field(None, description="How to start the judge; empty = it is already running.")

    @model_validator(mode="after")
    def _vllm_judge_has_a_port_and_a_name(self) -> JudgeSection:
        if self.server is None or self.server.vllm is None:
            return self
        from urllib.parse import urlparse

        where = urlparse(self.endpoint or "")
        if where.hostname not in ("127.0.0.1", "localhost") or where.port is None:
            raise ValueError("server.vllm: set judge.endpoint to the loopback port it should serve on, e.g. http://127.0.0.1:8011/v1")
        if not self.model:
            raise ValueError("server.vllm: set judge.model, the name the judge is served and asked under (any name, e.g. judge)")
        return self


class PrefsSection(Section):
    """`slmforge prefs`: preference pairs from the trained model's own samples, scored by a judge or a function."""

    samples: int = Field(500, gt=0, description="Training prompts to sample answers for.")
    engine: Literal["transformers", "vllm"] = Field(
        "transformers", description="What samples the answers: transformers (in process), or vllm (make vllm; the same prompts, stop rule "
                                    "and sampling keys, one server for the stage; its random draws differ from torch's).")
    k: int = Field(4, ge=2, description="Answers sampled per prompt.")
    temperature: float = Field(0.8, gt=0, description="Sampling temperature (must be > 0: K greedy answers are one answer).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling.")
    max_new_tokens: int = Field(64, gt=0, description="Length cap of a sampled answer.")
    batch_size: int = Field(16, gt=0, description="Prompts generated together.")
    seed: int = Field(0, description="Prompt choice and sampling seed.")
    margin: float = Field(1.0, ge=0, description="Keep a pair only when best and worst scores differ by at least this.")
    scorer: str = Field("judge", description="judge: the judge section's endpoint and rubric; module:function(prompt, answer) -> float; or a reward-model directory (train.method: reward, full weights).")
    model: str | None = Field(None, description="Model to sample from; empty = this run's model/ (the SFT model), else model.id.")
    source: Literal["samples", "file", "spotcheck"] = Field(
        "samples", description="samples: the model's own scored samples; file: prefs.path, your own prompt/chosen/rejected file; "
        "spotcheck: a rated spot-check CSV (Good beats Bad on the same prompt)."
    )
    path: str | None = Field(None, description="file: the preference file (JSONL/JSON/CSV/Parquet); spotcheck: a rated copy of eval/spotcheck.csv (eval rewrites that one).")
    on_error: Literal["fail", "skip"] = Field("fail", description="file: stop at bad rows (listing them with file:line) or drop and count them.")

    @model_validator(mode="after")
    def _file_source_has_a_path(self) -> PrefsSection:
        if self.source == "file" and not self.path:
            raise ValueError("source: file needs prefs.path (a prompt/chosen/rejected file)")
        if self.source == "spotcheck" and not self.path:
            # Not eval/spotcheck.csv itself: the next eval (of the aligned model) overwrites it unrated.
            raise ValueError("source: spotcheck needs prefs.path, a rated copy of eval/spotcheck.csv (eval rewrites that file)")
        return self


class AlignSection(Section):
    """One recipe, SFT then preference training: `run` adds the prefs and align stages after train.

    align merges the SFT model into its base once (align/sft_merged/), then trains align.method on
    prefs/pairs.jsonl in the sub run directory align/ (data/, checkpoints/, logs/, model/), starting
    from the SFT weights; with LoRA (train.pref.adapter) the frozen SFT weights are DPO's reference.
    train.pref (beta, loss_type, adapter, max_length, eval_pairs) applies; the keys below replace train's.
    """

    enabled: bool = Field(False, description="Run prefs (make pairs) and align (preference training) after train in `slmforge run`.")
    method: Literal["dpo", "orpo", "kto", "grpo"] = Field("dpo", description="Preference method trained from the SFT model.")
    lr: float = Field(5e-5, gt=0, description="Peak learning rate (preference steps want a smaller one than SFT).")
    epochs: float = Field(1.0, gt=0, description="Passes over the pairs (ignored when max_steps > 0).")
    max_steps: int = Field(-1, description="Stop after this many optimizer steps; -1 = use epochs.")
    batch_size: int = Field(8, gt=0, description="Pairs per device per step.")
    grad_accum: int = Field(1, gt=0, description="Gradient accumulation steps.")
    held_out: float = Field(0.15, gt=0, lt=1, description="Share of pairs held out (align/data/test.jsonl) for the before/after view.")


class ExportSection(Section):
    formats: list[Literal["merged", "gguf", "ollama"]] = Field(default_factory=list, description="Exports `run` produces.")
    quant: list[Literal["f16", "bf16", "q8_0", "q4_0", "q4_k"]] = Field(default_factory=lambda: ["f16"], description="GGUF types.")


class ServeSection(Section):
    host: str = Field("127.0.0.1", description="Bind address.")
    port: int = Field(8000, gt=0, lt=65536, description="Port.")
    max_batch: int = Field(32, gt=0, description="Most sequences generated together in one batch (1 = no batching).")
    batch_wait_ms: float = Field(5.0, ge=0, description="How long the first queued request waits for others to join its batch.")
    prefix_cache_mb: float = Field(256, ge=0, description="Memory for the keys and values of prompt beginnings (the chat template's system turn, an app's fixed instructions) that the transformers engine keeps so later prompts skip them; 0 = off.")
    rate_limit: float = Field(0.0, ge=0, description="Sequences (prompts × n) per second per API key (per client address without keys); 0 = off.")
    rate_burst: int = Field(20, gt=0, description="Sequences a key may ask for at once before the rate limit applies.")
    key_failures_per_minute: int = Field(10, ge=0, description="Wrong API keys one client address may send per minute (in a burst of as many) before all its requests get 429; 0 = no limit.")
    public_metrics: bool = Field(False, description="With API keys: serve /metrics and /openapi.json without one (e.g. for a Prometheus scraper).")
    max_body_bytes: int = Field(1 << 20, gt=0, description="Larger request bodies are refused with 413.")
    body_timeout_s: float = Field(10.0, gt=0, description="Seconds a client has to send its whole request body; a slower or stalled upload gets 408.")
    max_prompt_tokens: int = Field(4096, gt=0, description="Longer prompts are refused with 400.")
    max_tokens_cap: int = Field(1024, gt=0, description="Requests asking for more max_tokens are refused with 400.")
    default_max_tokens: int = Field(256, gt=0, description="max_tokens of a chat request that sets none.")
    max_n: int = Field(8, gt=0, description="Most choices (n) per request.")
    max_sequences: int = Field(64, gt=0, description="Most sequences (prompts × n) one request may ask for; more is refused with 400.")
    max_queue: int = Field(256, gt=0, description="Most sequences per model queued or generating; a request that would pass it gets 503 with Retry-After.")
    cache_size: int = Field(1024, ge=0, description="Deterministic (temperature 0) answers kept in an LRU cache; 0 = off.")


class SweepSection(Section):
    """`slmforge sweep`: an Optuna study over recipe keys; every trial is an ordinary run directory."""

    params: dict[str, str] = Field(
        default_factory=dict,
        description="KEY: SPACE, e.g. train.lr: loguniform:1e-5:5e-5, train.epochs: int:2:5, train.lora.r: categorical:8,16.",
    )
    trials: int = Field(10, gt=0, description="Trials the study should hold in total (re-running continues it).")
    objective: str = Field("val_loss", description="val_loss | train_loss (logs/metrics.jsonl) or a metric of eval/results.json (e.g. rougeL).")
    direction: Literal["auto", "minimize", "maximize"] = Field("auto", description="auto: minimize loss/error/mae/rmse/perplexity, else maximize.")
    pruner: Literal["median", "none"] = Field("median", description="median: stop a trial whose eval loss is worse than the median of earlier trials at the same step.")
    storage: str | None = Field(
        None, description="Optuna storage: empty = SQLite file runs/<name>/sweep.db; journal[:PATH] = Optuna's journal file "
        "(several processes on one machine); an RDB URL such as postgresql+psycopg://... (several machines)."
    )
    sampler: Literal["tpe", "grid"] = Field(
        "tpe", description="tpe: Optuna's TPE sampler; grid: every combination of categorical params once each "
        "(all params categorical; trials = the number of combinations to run them all)."
    )
    seed: int = Field(0, description="Sampler seed.")
