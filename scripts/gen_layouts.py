#!/usr/bin/env python3
"""Regenerate contracts/libraries/RiskLayouts.sol from models/spec.py."""

from oracle.chain.layouts import write_solidity

if __name__ == "__main__":
    print(f"wrote {write_solidity()}")
