"""How every plot of the user objects ends: saved when asked, then shown or handed back.

Under a display backend (a window, or a notebook's inline backend) the figure is
shown and the plot returns None, as the reference client's plots do. Under a
backend without display (Agg, PDF, SVG...), where showing does nothing but warn,
the figure is released from pyplot and returned, so a script or a notebook run
headless can still save or display it.
"""

from __future__ import annotations

from typing import Any

from oqtant.errors import ValidationError

__all__ = ["NON_INTERACTIVE_BACKENDS", "finish_figure", "is_interactive_backend"]

NON_INTERACTIVE_BACKENDS = frozenset({"agg", "pdf", "ps", "svg", "cairo", "pgf", "template"})


def is_interactive_backend() -> bool:
    """Whether matplotlib's backend can show a figure (a window or a notebook output)."""
    import matplotlib

    return matplotlib.get_backend().lower() not in NON_INTERACTIVE_BACKENDS


def finish_figure(fig: Any, file_name: str | None = None, *, dpi: int = 100) -> Any:
    """Save ``fig`` to ``file_name`` (format from its extension), then show or return it.

    Returns:
        None when the figure was shown, else the figure itself.

    Raises:
        ValidationError: the file cannot be written.
    """
    import matplotlib.pyplot as plt

    if file_name:
        try:
            fig.savefig(file_name, dpi=dpi, bbox_inches="tight")
        except OSError as exc:
            plt.close(fig)
            raise ValidationError(
                f"file_name: cannot save the plot to {file_name} ({exc})",
                [("file_name", "must be a writable path")],
            ) from exc
    if is_interactive_backend():
        plt.show()
        return None
    plt.close(fig)  # pyplot lets go of it; the figure itself stays usable
    return fig
