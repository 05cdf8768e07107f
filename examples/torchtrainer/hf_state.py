"""The Hugging Face Trainer's outputs, written as transformers writes them:

- `Trainer.log`: adds "epoch" (the fractional epoch) to the logs, appends
  {**logs, "step": global_step} to `state.log_history`, and
  `ProgressCallback.on_log` prints `str(logs)` (a Python dict repr) without
  "total_flos" and with "epoch" rounded to 2 decimals.
- `speed_metrics(split, ...)`: {split}_runtime rounded to 4 decimals,
  {split}_samples_per_second and {split}_steps_per_second rounded to 3.
- `TrainerState.save_to_json`: json.dumps(asdict(state), indent=2,
  sort_keys=True) + "\\n".
- `Trainer.save_metrics`: {split}_results.json and all_results.json,
  json.dump(..., indent=4, sort_keys=True).
"""
import json
import os
import sys
import time


def speed_metrics(split, start_time, num_samples, num_steps):
    runtime = time.time() - start_time
    result = {f"{split}_runtime": round(runtime, 4)}
    if runtime > 0:
        result[f"{split}_samples_per_second"] = round(num_samples / runtime, 3)
        result[f"{split}_steps_per_second"] = round(num_steps / runtime, 3)
    return result


class TrainerState:
    """transformers' TrainerState fields (the 4.4x/4.5x dataclass) and its log."""

    def __init__(self, max_steps, logging_steps, eval_steps, save_steps, train_batch_size, num_train_epochs):
        self.fields = {
            "epoch": None, "global_step": 0, "max_steps": max_steps, "logging_steps": logging_steps,
            "eval_steps": eval_steps, "save_steps": save_steps, "train_batch_size": train_batch_size,
            "num_train_epochs": num_train_epochs, "num_input_tokens_seen": 0, "total_flos": 0.0,
            "log_history": [], "best_metric": None, "best_global_step": None, "best_model_checkpoint": None,
            "is_local_process_zero": True, "is_world_process_zero": True, "is_hyper_param_search": False,
            "trial_name": None, "trial_params": None, "stateful_callbacks": {},
        }

    def __getitem__(self, key):
        return self.fields[key]

    def __setitem__(self, key, value):
        self.fields[key] = value

    def log(self, logs):
        """Trainer.log + ProgressCallback.on_log: history entry and the printed dict."""
        if self.fields["epoch"] is not None:
            logs["epoch"] = self.fields["epoch"]
        self.fields["log_history"].append({**logs, "step": self.fields["global_step"]})
        shown = dict(logs)
        shown.pop("total_flos", None)
        if "epoch" in shown:
            shown["epoch"] = round(shown["epoch"], 2)
        print(str(shown), flush=True)

    def update_best(self, metrics, metric_for_best_model, greater_is_better):
        """Trainer._determine_best_metric: the best value and the step it came from."""
        if metric_for_best_model is None:
            return
        key = metric_for_best_model if metric_for_best_model.startswith("eval_") else "eval_" + metric_for_best_model
        if key not in metrics:
            print(f"hf_lora_trainer: metric_for_best_model {key} is not among the evaluation metrics "
                  f"{sorted(metrics)}", file=sys.stderr)
            return
        value, best = metrics[key], self.fields["best_metric"]
        if best is None or (value > best if greater_is_better else value < best):
            self.fields["best_metric"] = value
            self.fields["best_global_step"] = self.fields["global_step"]

    def save(self, path, control):
        """trainer_state.json; `control` is the TrainerControl flags at that moment."""
        self.fields["stateful_callbacks"] = {"TrainerControl": {"args": dict(control), "attributes": {}}}
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(self.fields, indent=2, sort_keys=True) + "\n")


def save_metrics(output_dir, split, metrics):
    """Trainer.save_metrics with combined=True: {split}_results.json and all_results.json."""
    with open(os.path.join(output_dir, f"{split}_results.json"), "w") as f:
        json.dump(metrics, f, indent=4, sort_keys=True)
    combined_path = os.path.join(output_dir, "all_results.json")
    combined = {}
    if os.path.exists(combined_path):
        with open(combined_path) as f:
            combined = json.load(f)
    combined.update(metrics)
    with open(combined_path, "w") as f:
        json.dump(combined, f, indent=4, sort_keys=True)


def control_flags(should_save=False, should_training_stop=False):
    return {"should_epoch_stop": False, "should_evaluate": False, "should_log": False,
            "should_save": should_save, "should_training_stop": should_training_stop}
