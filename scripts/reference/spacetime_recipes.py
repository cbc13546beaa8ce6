"""The model configs HazyResearch/spacetime's main.py resolves for the paper's
Informer recipes, written to crates/statespace/tests/reference/spacetime_recipes.json.

Imports the official setup/args.py and setup/configs/model.py (exported by
fetch_sources.sh into target/ref-src/spacetime; they need only argparse and
omegaconf) and runs initialize_args + load_model_config exactly as main.py
does for a univariate series (args.input_dim = 1), then adds what main.py
adds (inference_only, lag, horizon). Each entry keeps its argv so the Rust
test can resolve the same command line with SpaceTimeRecipe.

    pip install omegaconf
    scripts/reference/fetch_sources.sh
    python3 scripts/reference/spacetime_recipes.py
"""
import importlib.util
import json
import os
import sys

from omegaconf import OmegaConf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "target", "ref-src", "spacetime")
OUT = os.path.join(ROOT, "crates", "statespace", "tests", "reference", "spacetime_recipes.json")


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(SRC, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ARGS = load("st_args", "setup/args.py")
MODEL = load("st_model", "setup/configs/model.py")

# The README's ETTh recipe at each Informer horizon, and variations of the
# knobs SpaceTimeRecipe takes (model_dim, n_blocks, kernel_dim, norm_order,
# dropout, seed).
BASE = ("--dataset etth1 --lag 336 --horizon {h} --embedding_config embedding/repeat "
        "--encoder_config encoder/default --decoder_config decoder/default "
        "--output_config output/default --n_blocks 1 --kernel_dim 64 --norm_order 1 "
        "--batch_size 50 --dropout 0.25 --lr 1e-3 --weight_decay 1e-4 --max_epochs 500 "
        "--early_stopping_epochs 20 --data_transform mean --loss informer_rmse "
        "--val_metric informer_rmse --criterion_weights 1 1 1 --seed 0 --no_wandb")
ARGVS = [BASE.format(h=h) for h in (96, 192, 336, 720)] + [
    "--lag 100 --horizon 30 --n_blocks 4 --kernel_dim 32 --norm_order 2 --model_dim 64 --dropout 0.1 --seed 3",
    "--lag 200 --horizon 50 --n_blocks 2 --kernel_dim 16 --model_dim 32",
    "--lag 96 --horizon 24",
]


def resolve(argv):
    sys.argv = ["main.py"] + argv.split()
    args = ARGS.initialize_args()
    args.input_dim = 1
    config = OmegaConf.create({
        "embedding_config": args.embedding_config,
        "encoder_config": args.encoder_config,
        "decoder_config": args.decoder_config,
        "output_config": args.output_config,
    })
    config = MODEL.load_model_config(config, config_dir=os.path.join(SRC, "configs", "model"), args=args)
    config["inference_only"] = False
    config["lag"] = args.lag
    config["horizon"] = args.horizon
    return OmegaConf.to_container(config)


def main():
    with open(os.path.join(SRC, "COMMIT")) as f:
        commit = f.read().strip()
    cases = [{"argv": argv, "config": resolve(argv)} for argv in ARGVS]
    with open(OUT, "w") as f:
        json.dump({"reference": f"HazyResearch/spacetime @ {commit}", "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} resolved configs to {OUT}")


if __name__ == "__main__":
    main()
