"""``featann bench robot``: a simulated annotator, IoU against modelled effort.

The robot uses the tool the way a person would, on images with ground truth:
it sees only the 2-D scatter (with its thumbnails) and the images, and labels
segments only through the interactions below, each of them counted. There is
no per-segment oracle labelling.

Interactions and cost model (seconds of human effort)
-----------------------------------------------------
* **Box or lasso** (3 s): the selection in the scatter of the *unlabelled*
  points ("hide labelled") that captures the most segments of one
  ground-truth class with at least ``--purity`` of them in that class
  (:mod:`napari_featann.bench.robot_select`); ``--wrong-weight W`` makes
  it maximise ``(segments of its class) - W x (other segments)`` instead, a
  more careful person. Every point inside gets the selection's class, impure
  ones included: the IoU pays for them.
* **Metric learning** every ``--metric-every`` selections: a triplet-loss head
  on the cached features (:func:`napari_featann.learning.train_metric`) and a
  semi-supervised re-projection. Cost: 1 s for the trigger plus the measured
  machine seconds, since the person waits for it. With
  ``--no-metric-learning`` the same trigger only re-projects (semi-supervised
  UMAP on the backbone features), so the ablation isolates the metric.
* **Click correction** of a labelled segment whose ground truth is mixed:
  a positive and a negative click at interior points (maximum of the distance
  transform) of the largest parts of its two main ground-truth classes, then,
  while the preview is wrong on a part of ``--min-part`` pixels or more and
  fewer than ``--max-clicks`` clicks were made, a click inside the largest
  wrong part (the robot of click-based interactive segmentation). The positive part gets its
  class (:func:`napari_featann.editing.split`); when the negative part keeps
  a wrong class, one more click re-labels it. Cost: 2.4 s for the first click
  on a segment, 0.9 s for each further click. A preview that would not
  improve the segment is abandoned (its clicks still count).
* **Click labelling** of a segment whose label (or, with
  ``--foreground-only``, its implicit background) is not its ground-truth
  majority: one Alt+click in the image with that class current gives it the
  class, as the dock does. Cost: 2.4 s (a first click on a segment). Part of
  the corrections (``--no-corrections`` turns it off).
* **Re-labelling selection** (3 s, with ``--foreground-only``): "hide
  labelled" off, the background class current, a box or lasso over *all*
  points that takes segments wrongly shown as foreground back to the
  background (what a person does on seeing background thumbnails among the
  foreground). Searched like a selection, on each point's first-order change
  of its image's IoU; taken only when the exact change of the IoU is
  positive. Part of the corrections; ``--no-relabel-selections`` turns it
  off alone. Its background labels also give metric learning a second class.
* **Remove specks** (2.4 s, with ``--foreground-only``): on the image where it
  gains most, the Correct tab's button that unlabels small foreground islands
  (parts under ``--speck-fraction`` of the image's largest foreground part,
  :func:`napari_featann.editing.speck_segments`), as a person does on seeing
  stray foreground in an image; taken only when the exact change of that
  image's score is positive (:mod:`napari_featann.bench.robot_specks`). Part
  of the corrections; ``--no-specks`` turns it off alone.

At each step the robot takes the interaction with the highest expected gain
per second, the gain being the pixels that become correctly labelled
(unlabelled pixels count as not done). With ``--foreground-only`` (binary
masks) unlabelled pixels are exported, and scored, as background: the robot
draws only foreground selections, counts unlabelled segments as background
and also corrects unlabelled segments holding foreground. It stops when the
budget (``--budget`` seconds per image) is spent or nothing is left to label.

Scores
------
Per image, with the class of every pixel from the session's class masks
(class id = ground-truth class index + 1): binary ground truth is scored as
foreground IoU, unlabelled pixels counting as background; multi-class ground
truth as the mean IoU over the classes present in the ground truth or the
prediction, unlabelled pixels counting as wrong (but not as a class).
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from ..core.progress import Progress, ensure_progress
from .common import neighbour_agreement, scoring, setup_session, summarise
from .plot import check_plot_file, plot_robot
from .robot_args import (
    COST_CLICK,
    COST_FIRST_CLICK,
    COST_SELECTION,
    COST_TRIGGER,
    RobotOptions,
    warn_budget,
)
from .robot_select import GroundTruth, _largest_part, best_selection, seeded_clicks
from .robot_specks import SpeckPlanner

__all__ = ["RobotOptions", "robot_benchmark"]


def _iou_sum(tp, fp, total) -> float:
    """Summed per-image foreground IoU (fractions) from :meth:`_Robot._iou_terms`."""
    return float((tp / np.maximum(total + fp, 1)).sum())


# --------------------------------------------------------------------------- the robot
class _Robot:
    def __init__(self, session, truth: GroundTruth, opts: RobotOptions, progress: Progress) -> None:
        self.s, self.truth, self.opts, self.progress = session, truth, opts, progress
        names = (
            ["background", "foreground"] if truth.binary else [f"class {v}" for v in truth.values]
        )
        ids = [session.add_class(n) for n in names]
        if ids != list(range(1, truth.n_classes + 1)):
            raise RuntimeError("the robot needs a session without classes")
        if opts.foreground_only and not truth.binary:
            raise ValueError("--foreground-only needs binary masks")
        # With --foreground-only the robot only assigns the foreground and counts on
        # unlabelled pixels being exported (and scored) as background.
        self.allowed = [1] if opts.foreground_only else None
        self.implicit = 0 if opts.foreground_only else None
        self.n = session.n_images
        self.budget = opts.budget * self.n
        self.effort = 0.0
        self.counts = dict(boxes=0, lassos=0, clicks=0, corrections=0, abandoned=0, relabels=0,
                           reselections=0, metric_learning_runs=0, reprojections=0,
                           speck_removals=0)  # fmt: skip
        use_specks = opts.corrections and opts.specks and self.implicit is not None
        self.specks = SpeckPlanner(opts.speck_fraction) if use_specks else None
        self.metric_seconds = 0.0
        self.split_seconds = 0.0
        # Expected machine time of the next trigger: unknown before the first one (the
        # first projection is no guide: it includes numba's compilation), then the last.
        self.est_trigger = 0.0
        self.since_trigger = 0
        self.given_up: set[int] = set()
        self._gain_cache: dict[tuple, tuple[int, int]] = {}
        # --objective iou: a pixel of image i is worth 1 / (pixels of the classes scored
        # there), so that gains approximate the change of the per-image IoU.
        self.image_weight = np.ones(self.n)
        if opts.objective == "iou":
            for i, gt in enumerate(truth.gt):
                scored = np.count_nonzero(gt) if truth.binary else gt.size / max(
                    np.unique(gt).size, 1)  # fmt: skip
                self.image_weight[i] = 1.0 / max(scored, 1)
        self.ious = np.array([truth.score(session.class_masks[i], i) for i in range(self.n)])
        self.curve = [[0.0, round(float(self.ious.mean()), 2)]]
        self._reported = 0

    # -- bookkeeping ---------------------------------------------------------
    def _spend(self, seconds: float, images=()) -> None:
        self.effort += seconds
        for i in images:
            self.ious[i] = self.truth.score(self.s.class_masks[i], i)
        if self.specks is not None:
            self.specks.changed(images)
        self.curve.append([round(self.effort / self.n, 3), round(float(self.ious.mean()), 2)])
        step = int(min(self.effort, self.budget)) - self._reported
        if step > 0:
            self._reported += step
            self.progress.update(step)

    @property
    def remaining(self) -> float:
        return self.budget - self.effort

    # -- selections ----------------------------------------------------------
    def plan_selection(self):
        """Best box/lasso over the unlabelled points, with its rows and pixel gain."""
        rows = np.flatnonzero(self.s.segment_class == 0)
        if rows.size == 0:
            return None
        major = self.truth.major
        gains = self._selection_gains(rows) if self.opts.objective == "iou" else None
        sel = best_selection(self.s.embedding[rows], major[rows], self.opts.purity,
                             self.opts.grid, self.truth.n_classes, self.opts.lasso,
                             self.allowed, self.opts.wrong_weight, gains)  # fmt: skip
        if sel is None:
            return None
        members = rows[sel.members]
        gain = self.truth.hist[members, sel.class_index].astype(float)
        if self.implicit is not None:  # these pixels were right already
            gain -= self.truth.hist[members, self.implicit]
        gain = float((gain * self._row_weight(members)).sum())
        return (sel, members, gain) if gain > 0 else None

    def _row_weight(self, rows) -> np.ndarray:
        """Weight of a pixel of each row's image (1 unless ``--objective iou``)."""
        return self.image_weight[self.s.segments.image[rows]]

    def _selection_gains(self, rows) -> np.ndarray:
        """Per row and class, the weighted pixels a selection of that class would make right.

        Pixels of other classes count against it: they become false positives of
        the class (or, with an implicit background, stop being right).
        """
        h = self.truth.hist[rows].astype(float)
        if self.implicit is not None:
            gains = h - h[:, [self.implicit]]
        else:
            gains = 2 * h - h.sum(1, keepdims=True)
        return gains * self._row_weight(rows)[:, None]

    def shown_labels(self) -> np.ndarray:
        """Class index every segment shows (the implicit one when unlabelled), or -1."""
        labels = self.s.segment_class.astype(np.int64) - 1
        if self.implicit is not None:
            labels[labels < 0] = self.implicit
        return labels

    def label_of(self, row: int) -> int:
        """Class index a segment shows (the implicit one when unlabelled), or -1."""
        c = int(self.s.segment_class[row]) - 1
        return c if c >= 0 or self.implicit is None else self.implicit

    def select(self, sel, labelled_too: bool = False) -> None:
        """Draw the selection in the session and give its class to what it captures.

        ``labelled_too``: "hide labelled" is off, labelled points are taken too
        (a re-labelling selection).
        """
        unlabelled_only = not labelled_too
        if sel.kind == "box":
            ids = self.s.select_box(sel.vertices[0], sel.vertices[1], unlabelled_only)
            self.counts["boxes"] += 1
        else:
            ids = self.s.select_lasso(sel.vertices, unlabelled_only)
            self.counts["lassos"] += 1
        self.counts["reselections"] += labelled_too
        changed = self.s.assign(ids, sel.class_index + 1, f"robot {sel.kind}")
        self.since_trigger += 1
        self._spend(COST_SELECTION, changed)

    def plan_reselection(self):
        """With an implicit class: a box or lasso over all points ("hide labelled" off) that
        gives it to segments showing another class, as ``(sel, members, gain)``, or None.

        With ``--objective iou`` the search scores each point by the first-order
        change of its image's IoU at the current labels, and the gain returned is
        the exact change of the summed per-image IoU; otherwise both are pixels
        made right. The gain must be positive.
        """
        if self.implicit is None or not self.truth.binary:
            return None
        seg, h = self.s.segments, self.truth.hist.astype(float)
        shows_fg = self.shown_labels() == 1
        if not shows_fg.any():
            return None
        gains = np.zeros_like(h)
        if self.opts.objective == "iou":
            tp, fp, total = self._iou_terms(shows_fg)
            den = np.maximum(total + fp, 1.0)[seg.image]
            gains[:, 0] = np.where(shows_fg, (h[:, 0] * tp[seg.image] / den - h[:, 1]) / den, 0)
        else:  # pixels made right
            gains[:, 0] = np.where(shows_fg, h[:, 0] - h[:, 1], 0.0)
        sel = best_selection(self.s.embedding, self.truth.major, self.opts.purity,
                             self.opts.grid, 2, self.opts.lasso, [0], 0.0, gains)  # fmt: skip
        if sel is None:
            return None
        if self.opts.objective == "iou":
            after = shows_fg.copy()
            after[sel.members] = False
            gain = _iou_sum(*self._iou_terms(after)) - _iou_sum(tp, fp, total)
        else:
            gain = gains[sel.members, 0].sum()
        gain = float(gain)
        return (sel, sel.members, gain) if gain > 0 else None

    def _iou_terms(self, shows_fg: np.ndarray):
        """Per image, foreground pixels shown right, shown wrong, and in all."""
        img, h, n = self.s.segments.image, self.truth.hist, self.n
        tp = np.bincount(img, h[:, 1] * shows_fg, n)
        fp = np.bincount(img, h[:, 0] * shows_fg, n)
        return tp, fp, np.bincount(img, h[:, 1], n)

    def remove_specks(self, img: int, ids) -> None:
        """One press of Remove specks on image ``img``: its specks show the background."""
        self.s.assign(ids, 0, "robot: remove specks")
        self.counts["speck_removals"] += 1
        self.counts["clicks"] += 1
        self._spend(COST_FIRST_CLICK, [img])

    def _plan_row(self, row: int):
        """Positive class, negative class, optimistic gain and cost of correcting a row."""
        h = self.truth.hist[row]
        label = self.label_of(row)
        a, b = np.argsort(h)[::-1][:2]
        pos = b if label == a else a
        neg = a if label == a else b
        gain = float(h[pos] + h[neg] - h[label]) * self._row_weight([row])[0]
        cost = COST_FIRST_CLICK + COST_CLICK * (1 + (label not in (a, b)))
        return int(pos), int(neg), gain, cost

    def _achievable(self, row: int, pos: int, neg: int) -> int:
        """Gain if the first click pair fixes the largest part of the positive class only."""
        seg = self.s.segments
        key = (int(seg.ids[row]), int(seg.area[row]), int(self.s.segment_class[row]), pos)
        if key not in self._gain_cache:
            sid, img = int(seg.ids[row]), int(seg.image[row])
            r0, c0, r1, c1 = (int(v) for v in seg.bbox[row])
            inside = self.s.label_images[img][r0:r1, c0:c1] == sid
            gt = self.truth.gt[img][r0:r1, c0:c1]
            size_pos, _ = _largest_part(inside & (gt == pos))
            size_neg, _ = _largest_part(inside & (gt == neg))
            self._gain_cache[key] = (size_pos, size_neg)
        size_pos, size_neg = self._gain_cache[key]
        if size_pos < self.opts.min_part or size_neg == 0:
            return 0
        _, _, gain, _ = self._plan_row(row)
        return gain + (size_pos - float(self.truth.hist[row, pos])) * self._row_weight([row])[0]

    def impure_rows(self) -> np.ndarray:
        """Rows that show a class and hold at least ``min_part`` pixels of other classes."""
        labels = self.shown_labels()
        rows = np.flatnonzero(labels >= 0)
        if rows.size == 0 or self.truth.n_classes < 2:
            return rows[:0]
        h = self.truth.hist[rows]
        second = np.sort(h, axis=1)[:, -2]
        label_px = h[np.arange(rows.size), labels[rows]]
        return rows[(second > 0) & (h.sum(1) - label_px >= self.opts.min_part)]

    def plan_correction(self, max_checked: int = 64):
        """The labelled, impure segment with the best expected gain per second, or None.

        Candidates are ranked by an optimistic gain (every pixel of the two main
        classes ends up right); the achievable gain (largest connected part of
        the positive class) is computed for the best of them until no
        optimistic rate can beat the best achievable one (branch and bound).
        """
        rows = self.impure_rows()
        if self.given_up:
            rows = rows[~np.isin(self.s.segments.ids[rows], list(self.given_up))]
        plans = [(r, *self._plan_row(r)) for r in rows]
        plans.sort(key=lambda p: -p[3] / p[4])
        best = None
        for r, pos, neg, gain, cost in plans[:max_checked]:
            if best is not None and gain / cost <= best[3] / best[4]:
                break
            achievable = self._achievable(r, pos, neg)
            if achievable > 0 and (best is None or achievable / cost > best[3] / best[4]):
                best = (r, pos, neg, achievable, cost)
        return best

    def correct(self, row: int, pos: int, neg: int) -> None:
        """Click-correct one segment: seeds, previews, more clicks, then split (or give up)."""
        from ..editing import preview_split, split

        s, seg = self.s, self.s.segments
        sid, img = int(seg.ids[row]), int(seg.image[row])
        label = self.label_of(row)
        r0, c0, r1, c1 = (int(v) for v in seg.bbox[row])
        inside = s.label_images[img][r0:r1, c0:c1] == sid
        gt = self.truth.gt[img][r0:r1, c0:c1]
        want = inside & (gt == pos)
        t0 = time.perf_counter()

        def preview(positive, negative):
            return preview_split(s, sid, positive, negative)[r0:r1, c0:c1]

        for step in seeded_clicks(preview, inside, want, inside & (gt == neg), (r0, c0),
                                  self.opts.min_part):  # fmt: skip
            clicks = len(step[1][True]) + len(step[1][False])
            cost_next = COST_FIRST_CLICK + COST_CLICK * clicks
            if clicks >= self.opts.max_clicks or cost_next > self.remaining:
                break
        m, seeds = step
        rest = inside & ~m
        rest_major = int(np.bincount(gt[rest], minlength=self.truth.n_classes).argmax())
        cost = COST_FIRST_CLICK + COST_CLICK * (clicks - 1)
        relabel = rest_major != label and cost + COST_CLICK <= self.remaining
        rest_class = rest_major if relabel else label
        before = int(self.truth.hist[row, label])
        after = int(np.count_nonzero(m & want) + np.count_nonzero(rest & (gt == rest_class)))
        self.counts["clicks"] += clicks
        if after <= before:  # the preview does not help: the person gives up
            self.given_up.add(sid)
            self.counts["abandoned"] += 1
            self.split_seconds += time.perf_counter() - t0
            self._spend(cost)
            return
        split(s, sid, seeds[True], seeds[False], positive_class=pos + 1)
        if relabel:
            s.assign([sid], rest_class + 1, "robot: re-label the rest of a split")
            self.counts["clicks"] += 1
            cost += COST_CLICK
        self.truth.refresh(s, [img])
        self.counts["corrections"] += 1
        self.split_seconds += time.perf_counter() - t0
        self._spend(cost, [img])

    def plan_relabel(self):
        """The segment whose Alt+click relabelling gains most, as ``(row, class, gain)``, or None."""
        labels = self.shown_labels()
        rows = np.flatnonzero((labels >= 0) & (self.truth.major != labels))
        if rows.size == 0:
            return None
        h = self.truth.hist[rows]
        major, at = self.truth.major[rows], np.arange(rows.size)
        gain = (h[at, major] - h[at, labels[rows]]) * self._row_weight(rows)
        k = int(np.argmax(gain))
        return (int(rows[k]), int(major[k]), float(gain[k])) if gain[k] > 0 else None

    def relabel(self, row: int, cls: int) -> None:
        """One Alt+click on a segment in the image: it takes class ``cls``."""
        sid, img = int(self.s.segments.ids[row]), int(self.s.segments.image[row])
        self.s.assign([sid], cls + 1, "robot: click a segment")
        self.counts["clicks"] += 1
        self.counts["relabels"] += 1
        self._spend(COST_FIRST_CLICK, [img])

    # -- metric learning -----------------------------------------------------
    def maybe_trigger(self) -> bool:
        """Metric learning (or a plain re-projection) once enough selections were made.

        Returns whether it ran. The caller only asks while there is something
        left to select.
        """
        if self.since_trigger < self.opts.metric_every:
            return False
        if self.remaining < COST_TRIGGER + 1.5 * self.est_trigger:
            return False
        if not self.can_learn():
            return False
        from ..learning import train_metric

        t0 = time.perf_counter()
        if self.opts.metric_learning:
            train_metric(self.s, "head", seed=self.opts.seed, reproject=True)
            self.counts["metric_learning_runs"] += 1
        else:
            self.s.project(use_labels=True)
            self.counts["reprojections"] += 1
        seconds = time.perf_counter() - t0
        self.metric_seconds += seconds
        self.est_trigger = seconds
        self.since_trigger = 0
        self._spend(COST_TRIGGER + seconds)
        return True

    def can_learn(self) -> bool:
        """Whether metric learning has what it needs: 2 classes of 2 labelled segments."""
        labels = self.s.segment_class
        return np.count_nonzero(np.bincount(labels[labels > 0]) >= 2) >= 2

    # -- main loop -----------------------------------------------------------
    def options(self) -> list[tuple]:
        """Every action worth taking now, as ``(gain per second, cost, kind, plan)``.

        A metric-learning trigger, when due, runs here (before the selection is planned).
        """
        options = []
        planned = self.plan_selection()
        if planned is not None and self.maybe_trigger():
            planned = self.plan_selection()
        if planned is not None:
            options.append((planned[2] / COST_SELECTION, COST_SELECTION, "select", planned))
        corr = self.plan_correction() if self.opts.corrections else None
        if corr is not None:
            options.append((corr[3] / corr[4], corr[4], "correct", corr))
        click = self.plan_relabel() if self.opts.corrections else None
        if click is not None:
            options.append((click[2] / COST_FIRST_CLICK, COST_FIRST_CLICK, "click", click))
        fixing = self.opts.corrections and self.opts.relabel_selections
        undo_sel = self.plan_reselection() if fixing else None
        if undo_sel is not None:
            options.append((undo_sel[2] / COST_SELECTION, COST_SELECTION, "reselect", undo_sel))
        specks = self.specks.plan(self) if self.specks is not None else None
        if specks is not None:
            options.append((specks[2] / COST_FIRST_CLICK, COST_FIRST_CLICK, "specks", specks))
        return options

    def act(self, what: str, plan) -> None:
        """Take one action of :meth:`options`."""
        if what == "select":
            self.select(plan[0])
        elif what == "click":
            self.relabel(plan[0], plan[1])
        elif what == "reselect":
            self.select(plan[0], labelled_too=True)
        elif what == "specks":
            self.remove_specks(plan[0], plan[1])
        else:
            self.correct(plan[0], plan[1], plan[2])

    def run(self) -> str:
        """Interact until the budget is spent; returns why it stopped ("budget" or "done").

        Each step takes the affordable action of :meth:`options` with the highest gain
        per second (the first of equals).
        """
        self.progress.init(int(np.ceil(self.budget)), "robot (modelled effort, s)")
        while True:
            options = self.options()
            if not options:
                return "done"
            affordable = [o for o in options if o[1] <= self.remaining]
            if not affordable:
                return "budget"
            _, _, what, plan = max(affordable, key=lambda o: o[0])
            self.act(what, plan)


# --------------------------------------------------------------------------- entry point
def robot_benchmark(args, pparams, fparams, progress: Progress | None = None,
                    plot: bool = True) -> dict:  # fmt: skip
    """Run the simulated annotator on a folder of images with ground truth.

    Parameters
    ----------
    args : argparse.Namespace
        ``featann bench robot`` arguments: ``images``, ``masks``, ``limit``,
        ``seed`` and the options of :func:`napari_featann.bench.robot_args.add_robot_args`
        (see :class:`RobotOptions`); ``plot`` writes a PNG of the curve;
        ``session_cache`` names a session file holding the partition and
        features of these images and parameters (read when it matches,
        written otherwise), so that ablations skip the costly setup.
    pparams : PartitionParams
    fparams : FeatureParams
    progress : Progress, optional
        Stages on stderr in the CLI.
    plot : bool
        False: leave ``args.plot`` to the caller (:func:`.plot.plot_robot`; the CLI
        prints the result first). Its folder is checked before any work either way.

    Returns
    -------
    dict
        ``n_images``, ``mean_iou``, ``median_iou`` (percent, final),
        ``scoring`` and ``n_classes`` (how the masks are scored),
        ``boxes_per_image`` (boxes and lassos), ``clicks_per_image``,
        ``metric_learning_runs``, ``machine_seconds_per_image`` (metric
        learning, re-projections and splits after the first projection),
        ``effort_seconds_per_image`` (the cost model), ``curve`` (a list of
        ``[effort_seconds_per_image, mean_iou]``, one point per interaction),
        ``oracle_iou``, setup times, counts and parameters.
    """
    opts = RobotOptions.from_args(args)
    if getattr(args, "plot", None):
        check_plot_file(args.plot)  # now, not after the run
    progress = ensure_progress(progress)
    t_start = time.perf_counter()
    session, gts, from_cache, (t_part, t_feat) = setup_session(
        args.images, args.masks, pparams, fparams, limit=getattr(args, "limit", None),
        cache=getattr(args, "session_cache", None), progress=progress,
        binary="--foreground-only" if opts.foreground_only else None)  # fmt: skip
    warn_budget(opts.budget, len(gts))
    t_features = time.perf_counter()
    session.projection_params.seed = opts.seed  # --seed varies the layout too
    if opts.n_neighbors is not None:
        session.projection_params.n_neighbors = opts.n_neighbors
    if opts.min_dist is not None:
        session.projection_params.min_dist = opts.min_dist
    session.project(progress)
    t_projection = time.perf_counter()
    truth = GroundTruth(gts)
    truth.refresh(session)
    oracle = truth.oracle_iou(session)
    neighbours = neighbour_agreement(session.features, truth.major)
    n_segments = len(session.segments)

    if opts.metric_learning:  # as the dock does when it shows a session: not effort
        from ..learning import warm_up

        warm_up(background=False)
    robot = _Robot(session, truth, opts, progress)
    stopped = robot.run()
    n = session.n_images
    c = robot.counts
    machine = robot.metric_seconds + robot.split_seconds
    result = summarise(robot.ious, {
        **scoring(gts, per_mask=False),
        "boxes_per_image": round((c["boxes"] + c["lassos"]) / n, 3),
        "clicks_per_image": round(c["clicks"] / n, 3),
        "metric_learning_runs": c["metric_learning_runs"],
        "machine_seconds_per_image": round(machine / n, 3),
        "effort_seconds_per_image": round(robot.effort / n, 3),
        "budget_seconds_per_image": opts.budget,
        "stopped": stopped,
        "oracle_iou": round(oracle, 2),
        "feature_neighbour_agreement": neighbours,
        **{k: c[k] for k in ("boxes", "lassos", "clicks", "corrections")},
        "click_labels": c["relabels"],
        "relabel_selections": c["reselections"],
        "corrections_abandoned": c["abandoned"],
        **{k: c[k] for k in ("reprojections", "speck_removals")},
        "metric_machine_seconds": round(robot.metric_seconds, 2),
        "split_machine_seconds": round(robot.split_seconds, 2),
        "n_segments": n_segments,
        "n_segments_final": len(session.segments),
        "labelled_segments_fraction": round(float(np.mean(session.segment_class > 0)), 4),
        "setup_seconds": {"partition": round(t_part, 1), "features": round(t_feat, 1),
                          "projection": round(t_projection - t_features, 1)},
        "setup_from_cache": from_cache,
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "curve": robot.curve,
        "robot": asdict(opts),
        "params": session.params_dict(),
    })  # fmt: skip
    if getattr(args, "plot", None):
        result["plot"] = str(args.plot)
        if plot:
            plot_robot(result, args.images, args.plot)
    return result
