"""GR-2 video-language-action policy: model (VQGAN, text encoders, GPT-style transformer, cVAE
action head), training, inference and the policy node."""
