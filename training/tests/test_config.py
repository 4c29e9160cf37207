import json

import pytest

from spikeclip_training.config import ConfigError, SpikeCLIPConfig

# The example of docs/CHECKPOINT.md, verbatim.
EXAMPLE = """
{
  "T": 4,
  "lif": {"tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0, "attn_v_threshold": 0.5},
  "batch_norm_eps": 1e-5,
  "vision": {"in_channels": 1, "image_size": [28, 28], "embed_dims": 32, "num_heads": 4,
             "mlp_ratios": 4, "depths": 1, "target_dim": 24},
  "ann_vision": {"embed_dims": 32, "num_heads": 4, "mlp_ratios": 4, "depths": 1,
                 "target_dim": 24, "layer_norm_eps": 1e-5},
  "text": {"context_length": 20, "embed_dim": 16, "hidden_dim": 48, "target_dim": 24,
           "embedding": {"kind": "bert", "vocab_size": 100, "max_position_embeddings": 20,
                         "type_vocab_size": 2, "layer_norm_eps": 1e-12}},
  "logit_scale": 1.0,
  "preprocess": {"image_size": [28, 28], "channels": 1, "mean": [0.286], "std": [0.353]},
  "tokenizer": {"kind": "bert-wordpiece", "vocab_file": "vocab.txt", "context_length": 20,
                "pad_id": 0, "cls_id": 101, "sep_id": 102, "unk_id": 100, "lowercase": true},
  "classes": ["T-shirt/top", "Trouser"],
  "templates": ["a photo of a {}."],
  "ann_text": null,
  "provenance": {"kind": "random-fixture", "seed": 0, "git_revision": "abc123"}
}
"""


def test_example_round_trips():
    cfg = SpikeCLIPConfig.from_json(EXAMPLE)
    assert cfg.vision.image_size == [28, 28] and cfg.text.embedding.layer_norm_eps == 1e-12
    again = json.loads(cfg.to_json())
    assert again == json.loads(EXAMPLE)
    assert list(again) == list(json.loads(EXAMPLE))          # key order kept
    assert SpikeCLIPConfig.from_json(cfg.to_json()) == cfg


def test_clip_embedding_and_ann_text_round_trip():
    d = json.loads(EXAMPLE)
    d["text"]["embedding"] = {"kind": "clip", "vocab_size": 64, "max_position_embeddings": 77}
    d["ann_text"] = {"file": "minilm.safetensors", "sha256": "00" * 32}
    d["tokenizer"] = {"kind": "ids", "context_length": 20, "pad_id": 0, "cls_id": 62, "sep_id": 63}
    assert json.loads(SpikeCLIPConfig.from_dict(d).to_json()) == d


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d["vision"].update(extra=1), "vision: unknown key"),
    (lambda d: d.pop("logit_scale"), "missing key"),
    (lambda d: d["text"].update(target_dim=25), "target_dim"),
    (lambda d: d["text"]["embedding"].update(kind="gpt"), "text.embedding.kind"),
    (lambda d: d["text"]["embedding"].update(kind="clip"), "text.embedding: unknown key"),
    (lambda d: d["vision"].update(image_size=[30, 28]), "divisible by 4"),
    (lambda d: d["vision"].update(num_heads=5), "num_heads"),
    (lambda d: d["tokenizer"].update(context_length=16), "context_length"),
])
def test_rejects_bad_configs(mutate, needle):
    d = json.loads(EXAMPLE)
    mutate(d)
    with pytest.raises(ConfigError, match=needle):
        SpikeCLIPConfig.from_dict(d)
