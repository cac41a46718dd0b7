# Cross-check of the shipped passkey models with Hugging Face transformers (run where
# transformers and torch are installed, e.g. the lent GPU host: `python3 train/hf_passkey_check.py`):
# loads train/passkey_model and train/passkey_model_dsa as LlamaForCausalLM and asks them for
# pass keys by greedy generation, with prompts built from the same SPEC §7 template.
import random, torch, transformers
from transformers import AutoModelForCausalLM
intro = ("There is an important info hidden inside a lot of irrelevant text. Find it and memorize "
         "them. I will quiz you about the important information there.")
sent = ["The grass is green.", "The sky is blue.", "The sun is yellow.", "Here we go.", "There and back again."]
def prompt(length, depth, key):
    needle = f"The pass key is {key}. Remember it. {key} is the pass key."
    q = "What is the pass key? The pass key is"
    fixed = len(intro) + len(needle) + len(q) + 3
    filler, i = [], 0
    while len(" ".join(filler + [sent[i % 5]])) + fixed + 1 <= length:
        filler.append(sent[i % 5]); i += 1
    cut = round(len(filler) * depth / 100)
    a, b = " ".join(filler[:cut]), " ".join(filler[cut:])
    parts = [intro] + ([a] if a else []) + [needle] + ([b] if b else []) + [q]
    return "\n".join(parts)
print("transformers", transformers.__version__, "torch", torch.__version__)
rng = random.Random(1)
for name in ["train/passkey_model", "train/passkey_model_dsa"]:
    m = AutoModelForCausalLM.from_pretrained(name, torch_dtype=torch.float32).eval()
    print(name, type(m).__name__, sum(p.numel() for p in m.parameters()), "parameters")
    for length in [300, 384, 768]:
        ok = n = 0
        for depth in range(0, 101, 10):
            for t in range(2):
                key = str(rng.randint(10000, 99999))
                ids = torch.tensor([list(prompt(length, depth, key).encode())])
                with torch.no_grad():
                    out = m.generate(ids, max_new_tokens=7, do_sample=False, pad_token_id=0)
                text = bytes(out[0, ids.shape[1]:].tolist()).decode(errors="replace")
                ok += key in text; n += 1
        print(f"  length {length} (prompt {ids.shape[1]} bytes): {ok}/{n} retrieved")
