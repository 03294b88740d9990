"""Pure methodology library: versioned factor files and the reduction formulas.

No Flask, no database: plain trip facts in, grams and a receipt out.
"""
