"""The Mamba Encoder Swarm: a router picks k of N small encoders per chunk, an aggregator fuses
their outputs and a Mamba decoder runs over the fused sequence.

    model             SwarmLM, SwarmConfig, its presets and the domain layout
    router            ChunkRouter: k of N encoders per chunk, causal
    aggregator        Aggregator: gate or attention fusion of the k outputs
    mamba_pool        MambaEncoderPool: N Mamba encoders, run sparsely
    transformer_pool  TransformerEncoderPool: the Transformer-encoder variant
    distributed       expert parallelism: the encoders spread over ranks (all-to-all)
"""
from models.swarm.aggregator import Aggregator
from models.swarm.distributed import ExpertParallelPool, encoder_bounds, expert_parallel
from models.swarm.mamba_pool import MambaEncoderPool
from models.swarm.model import ENCODER_TYPES, PRESETS, SwarmConfig, SwarmLM, domain_layout
from models.swarm.router import ChunkRouter
from models.swarm.transformer_pool import TransformerEncoderPool

__all__ = ["ENCODER_TYPES", "PRESETS", "Aggregator", "ChunkRouter", "ExpertParallelPool", "MambaEncoderPool",
           "SwarmConfig", "SwarmLM", "TransformerEncoderPool", "domain_layout", "encoder_bounds", "expert_parallel"]
