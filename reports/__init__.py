"""Reports layer: area, latency and energy per token from device cards and cited tables,
GPU baselines, design-space sweeps."""
