"""Everything that reads saved reports: loading and checking their shape, comparing two runs, merging a
fleet of machines' runs, and writing them as markdown (and HTML) for people and CI summaries."""
