"""Pie charts drawn on the server as SVG (no script): one per currency of the overview's
``chart.invoices``, each slice the amount of one label. The page shows the same
figures in a table beside it."""
import math
from decimal import Decimal

SIZE = 160
RADIUS = 70


def _point(angle):
    centre = SIZE / 2
    return (round(centre + RADIUS * math.sin(angle), 3),
            round(centre - RADIUS * math.cos(angle), 3))


def pies(chart_items):
    """``[{"currency", "total", "slices": [{"label", "count", "amount", "path" | "full"}]}]``
    from the overview's ``chart.invoices`` (amounts as decimal strings per currency)."""
    currencies = sorted({currency for item in chart_items for currency in item["amount"]})
    result = []
    for currency in currencies:
        amounts = [(item["label"], item["count"], Decimal(item["amount"].get(currency, "0")))
                   for item in chart_items]
        total = sum((amount for _, _, amount in amounts), Decimal(0))
        slices, start = [], 0.0
        for label, count, amount in amounts:
            share = float(amount / total) if total > 0 else 0.0
            piece = {"label": label, "count": count, "amount": amount, "share": share,
                     "path": None, "full": False}
            if share >= 0.9999:
                piece["full"] = True
            elif share > 0:
                end = start + share * 2 * math.pi
                (x1, y1), (x2, y2) = _point(start), _point(end)
                large = 1 if end - start > math.pi else 0
                centre = SIZE / 2
                piece["path"] = (f"M{centre},{centre} L{x1},{y1} "
                                 f"A{RADIUS},{RADIUS} 0 {large} 1 {x2},{y2} Z")
                start = end
            slices.append(piece)
        result.append({"currency": currency, "total": total, "slices": slices})
    return result
