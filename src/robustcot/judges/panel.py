"""The panel vote: one label per item from several judges' labels.

Plurality of the decided votes (consistent / inconsistent / no_conclusion). ``unparsed`` votes
abstain rather than count: a judge that failed to answer says nothing about the item. A shared top
count is reported as ``tie`` instead of being broken arbitrarily (with 3 judges that means one
vote each for three labels, or one decided vote each for two labels beside an unparsed one); an
item with no decided vote at all is ``unparsed``. Ties and unparsed items leave ``consistent``
null, like a think without a conclusion.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from robustcot.judges.labels import DECIDED, PanelLabel


def panel_label(labels: Sequence[str]) -> PanelLabel:
    """The panel's label for one item given each judge's label."""
    votes = Counter(label for label in labels if label in DECIDED).most_common()
    if not votes:
        return "unparsed"
    if len(votes) > 1 and votes[0][1] == votes[1][1]:
        return "tie"
    return votes[0][0]  # type: ignore[return-value]
