"""What voters read: the walk-forward summary in proposal descriptions, from a shipped model card."""

from __future__ import annotations

from models.versions import SHIPPED, load_version
from oracle.governance import backtest_lines, with_proposer


def test_backtest_summary_compares_the_model_with_its_best_baseline():
    card = load_version(*SHIPPED).card
    lines = backtest_lines(card["walk_forward"], SHIPPED[0])
    assert lines[0] == "Walk-forward backtest (out of sample):"
    for market, record in card["walk_forward"].items():
        scores = record["scores"]
        own = scores[SHIPPED[0]]
        best = min((n for n in scores if n != SHIPPED[0]), key=lambda n: scores[n]["qlike"])
        line = next(line for line in lines if line.startswith(f"- {market} "))
        assert f"QLIKE {own['qlike']:.3f} (best baseline {best} {scores[best]['qlike']:.3f})" in line
        assert f"Kupiec p {own['kupiec_p']:.2f}" in line


def test_no_backtest_is_said_plainly():
    assert backtest_lines(None, "window-mlp") == ["Backtest: none published for this model version "
                                                  "(see its model card)."]


def test_descriptions_carry_the_openzeppelin_proposer_suffix():
    """Governor._isValidDescriptionForProposer reads `#proposer=0x<40 hex>` at the very end."""
    proposer = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    description = with_proposer("# zkrisk proved risk update", proposer)
    assert description.endswith("#proposer=0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266")
    assert len(description.rpartition("#proposer=")[2]) == 42
