"""Pure geo library: fences, H3 cells, GBFS/MDS geography, rebalancing maths.

No Flask, no database: plain data in, plain data out.
"""
