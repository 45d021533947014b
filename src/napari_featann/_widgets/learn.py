"""The dock's "Learn" tab: metric learning, suggestions, batches and local views.

A mixin of :class:`~napari_featann._widgets.dock.FeatureSpaceWidget`:

- *Train metric* (:func:`napari_featann.learning.train_metric`) runs as a job
  on a fork of the session; the refined features, metric and new layout are
  copied back only when it has finished, so a cancelled or failed run leaves
  the previous embedding as it was.
- *Suggest uncertain* rings the most uncertain unlabelled points (magenta rings,
  apart from the selection's highlight). A suggested segment that gets a class
  loses its ring, the others keep theirs; one unlabelled again (an undo, say)
  is ringed again. The suggestions are dropped when they are stale: another
  session or another layout (training, re-projection, a split, merge or re-cut).
- *Propose labels* lists k-NN proposal groups; each is applied only when the
  user accepts it (one undoable action per group). Undoing an acceptance puts
  the group back in the list (at its place); redoing it takes it out again.
- *Add images…* grows the session by a batch of images
  (:func:`napari_featann.batches.add_images`) on a fork, then shows it.
- *Local view of selection* projects the selected segments on their own in a
  new tab; a box or lasso there assigns the current class, and point focus is
  linked as in the main scatter. Like the main scatter, a local view is
  disabled while a job runs; it closes when any of its segments changes
  (another session, a split, merge or re-cut, or the undo of one).
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .workers import Job

__all__ = ["LearnMixin"]


class LearnMixin:
    """Metric learning and suggestions for the dock (needs its session, scatter and jobs)."""

    # ================================================================ UI
    def _build_learn_tab(self) -> QWidget:
        """Build the "Learn" panel.

        Returns
        -------
        QWidget
            The panel, to be placed in the dock's tab widget.
        """
        self._suggested_ids = np.zeros(0, np.int64)
        self._suggested_on = (None, None)  # the session and layout they were made on
        self._proposals: list = []
        self._accepted: list = []  # (history action, list place, group) per accepted group
        self._local_views: list = []
        page = QWidget()
        lay = QVBoxLayout(page)

        self.learn_mode = QComboBox()
        self.learn_mode.addItems(["head", "full"])
        self.learn_mode.setToolTip("head: small head on cached features (fast); "
                                   "full: fine-tune the backbone (GPU)")  # fmt: skip
        self.train_button = QPushButton("Train metric")
        self.train_button.setToolTip("Learn a metric from the labels so far and re-project")
        self.train_button.clicked.connect(
            lambda: self._guard(lambda: self.train_metric(self.learn_mode.currentText()))
        )
        row = QHBoxLayout()
        row.addWidget(QLabel("Mode"))
        row.addWidget(self.learn_mode)
        row.addWidget(self.train_button, 1)
        lay.addLayout(row)

        self.uncertain_spin = QSpinBox()
        self.uncertain_spin.setRange(1, 1000)
        self.uncertain_spin.setValue(20)
        self.uncertain_button = QPushButton("Suggest uncertain")
        self.uncertain_button.setToolTip("Ring the unlabelled points whose class is least sure")
        self.uncertain_button.clicked.connect(
            lambda: self._guard(lambda: self.suggest_uncertain(self.uncertain_spin.value()))
        )
        row = QHBoxLayout()
        row.addWidget(self.uncertain_spin)
        row.addWidget(self.uncertain_button, 1)
        lay.addLayout(row)

        self.propose_button = QPushButton("Propose labels")
        self.propose_button.setToolTip("k-NN proposals grouped by class; nothing is applied "
                                       "until a group is accepted")  # fmt: skip
        self.propose_button.clicked.connect(lambda: self._guard(self.propose))
        self.proposal_list = QListWidget()
        self.proposal_list.setMaximumHeight(90)
        self.accept_button = QPushButton("Accept group")
        self.reject_button = QPushButton("Reject group")
        self.accept_button.clicked.connect(
            lambda: self._guard(lambda: self.accept_proposal(self.proposal_list.currentRow()))
        )
        self.reject_button.clicked.connect(
            lambda: self._guard(lambda: self.reject_proposal(self.proposal_list.currentRow()))
        )
        lay.addWidget(self.propose_button)
        lay.addWidget(self.proposal_list)
        row = QHBoxLayout()
        row.addWidget(self.accept_button)
        row.addWidget(self.reject_button)
        lay.addLayout(row)

        self.add_images_button = QPushButton("Add images…")
        self.add_images_button.setToolTip("Partition a folder of new images and place them "
                                          "in the scatter")  # fmt: skip
        self.add_images_button.clicked.connect(lambda: self._guard(self._ask_add_folder))
        self.local_view_button = QPushButton("Local view of selection")
        self.local_view_button.setToolTip("Project the selected segments on their own")
        self.local_view_button.clicked.connect(lambda: self._guard(self.open_local_view))
        lay.addWidget(self.add_images_button)
        lay.addWidget(self.local_view_button)
        lay.addStretch(1)
        self.session_changed.connect(self._clear_learn_state)
        self.class_manager.classes_changed.connect(self._follow_classes)
        self.session_changed.connect(self._update_learn_enabled)
        self.job_finished.connect(self._update_learn_enabled)
        self._update_learn_enabled()
        return page

    def _update_learn_enabled(self, *_args) -> None:
        """Enable the tab's buttons for the session's state (the dock may call it too)."""
        if not hasattr(self, "train_button"):
            return
        s = self._session
        ready = s is not None and not self.busy and s.features is not None
        shown = ready and s.embedding is not None
        for w in (self.train_button, self.uncertain_button, self.propose_button,
                  self.add_images_button):  # fmt: skip
            w.setEnabled(ready)
        self.local_view_button.setEnabled(shown)
        has = bool(self._proposals) and not self.busy
        self.accept_button.setEnabled(has)
        self.reject_button.setEnabled(has)
        for view in self._local_views:  # no selection while a job runs, as the main scatter
            view.setEnabled(not self.busy)

    def _clear_learn_state(self) -> None:
        """Another session is shown: drop suggestions and proposals (they refer to the old one)."""
        self._suggested_ids, self._suggested_on = np.zeros(0, np.int64), (None, None)
        self._proposals = []
        self._accepted = []
        self.proposal_list.clear()

    def _follow_classes(self) -> None:
        """Classes were edited: drop the proposal groups of a deleted class, show new names.

        A deleted class's id goes to the next class added: its groups must not
        label segments with that class.
        """
        s, row = self._session, self.proposal_list.currentRow()
        kept = [g for g in self._proposals if s is not None and g[0] in s.classes]
        if len(kept) != len(self._proposals):
            self._status(f"{len(self._proposals) - len(kept)} proposal groups of a deleted "
                         "class dropped")  # fmt: skip
            row = 0
        self._proposals = kept
        self._fill_proposals()
        if 0 <= row < len(kept):
            self.proposal_list.setCurrentRow(row)

    # ================================================================ training
    def train_metric(self, mode: str = "head", sync: bool | None = None) -> Job:
        """Learn a metric from the labelled segments and re-project, as a job.

        Parameters
        ----------
        mode : {"head", "full"}
            See :func:`napari_featann.learning.train_metric`.
        sync : bool, optional
            Run in the calling thread (default: in a worker when a Qt app runs).

        Returns
        -------
        Job
        """
        from ..learning import train_metric

        live = self._need_session()
        if live.features is None:
            raise RuntimeError("run the pipeline (Start) first")
        fork = live.fork()

        def job(progress):
            info = train_metric(fork, mode, progress)
            return fork, info

        def done(result) -> None:
            f, info = result
            if self._session is not live or len(f.embedding) != len(live.segments):
                return  # the session changed meanwhile: drop the stale result
            live.embedding = f.embedding
            live.refined_features = f.refined_features
            live.metric_state = f.metric_state
            live._projector = f._projector
            self._suggested_ids = np.zeros(0, np.int64)
            self._sync_scatter()
            self._touch()
            self._status(f"metric trained ({info['mode']}, {info['n_labelled']} labelled "
                         f"segments, {info['train_seconds']} s)")  # fmt: skip

        job_ = self._run("train metric", job, done, sync)
        self._update_learn_enabled()
        return job_

    # ================================================================ suggestions
    def suggest_uncertain(self, k: int = 20) -> np.ndarray:
        """Ring the ``k`` most uncertain unlabelled segments in the scatter.

        Parameters
        ----------
        k : int

        Returns
        -------
        ndarray of int64
            Their segment ids (also kept in ``suggested_ids``).
        """
        from ..learning import suggest_uncertain

        s = self._need_session()
        if s.features is None:
            raise RuntimeError("run the pipeline (Start) first")
        ids = np.asarray(suggest_uncertain(s, int(k)), np.int64)
        self._suggested_ids, self._suggested_on = ids, (s, s.embedding)
        self._refresh_suggestions()
        self._status(f"{ids.size} uncertain segments ringed in the scatter")
        return ids.copy()

    @property
    def suggested_ids(self) -> np.ndarray:
        """Segment ids of the last "Suggest uncertain" still unlabelled (the ringed ones)."""
        s, ids = self._session, self._suggested_ids
        if self._suggestions_stale():
            return np.zeros(0, np.int64)
        ids = ids[np.isin(ids, s.segments.ids)]
        return ids[s.segment_class[s.segments.rows_of(ids)] == 0]

    def _suggestions_stale(self) -> bool:
        """Whether the session or its layout is no longer the one the suggestions were
        made on (training, re-projection, a split, merge or re-cut or their undo)."""
        s, (on, layout) = self._session, self._suggested_on
        return s is None or on is not s or layout is not s.embedding

    def _refresh_suggestions(self) -> None:
        """Ring the suggestions still unlabelled; drop them all once stale.

        A labelled one is only left out: unlabelled again (an undo), it is ringed again.
        """
        if not hasattr(self, "_suggested_on"):  # (the tab is not built yet)
            return
        if self._suggestions_stale():
            self._suggested_ids, self._suggested_on = np.zeros(0, np.int64), (None, None)
        s, ids = self._session, self.suggested_ids
        if self._shown_embedding is not None:
            self.scatter.ring(s.segments.rows_of(ids))

    def propose(self, k: int = 10, min_agreement: float = 0.8) -> list:
        """List k-NN label proposals, grouped by class; nothing is applied.

        Parameters
        ----------
        k : int
            Neighbours consulted per unlabelled segment.
        min_agreement : float
            Fraction of the neighbours that must agree.

        Returns
        -------
        list of (int, ndarray, ndarray)
            ``(class_id, segment_ids, confidence)`` per group.
        """
        from ..learning import suggest_proposals

        s = self._need_session()
        if s.features is None:
            raise RuntimeError("run the pipeline (Start) first")
        self._proposals = [(int(c), np.asarray(ids, np.int64), conf) for c, ids, conf in
                           suggest_proposals(s, int(k), float(min_agreement))]  # fmt: skip
        self._accepted = []  # an undo brings back groups of this list only
        self._fill_proposals()
        if len(np.unique(s.segment_class[s.segment_class > 0])) < 2:
            self._status("no proposals: label segments of at least 2 classes first")
        else:
            self._status(f"{len(self._proposals)} proposal groups: accept or reject each")
        return list(self._proposals)

    @property
    def proposals(self) -> list:
        """The proposal groups still pending."""
        return list(self._proposals)

    def _fill_proposals(self) -> None:
        s = self._session
        self.proposal_list.clear()
        for cid, ids, _conf in self._proposals:
            name = s.classes[cid].name if cid in s.classes else f"class {cid}"
            self.proposal_list.addItem(f"{name}: {ids.size} segments")
        if self._proposals:
            self.proposal_list.setCurrentRow(0)
        self._update_learn_enabled()

    def _take_proposal(self, i: int):
        if not 0 <= i < len(self._proposals):
            raise IndexError(f"no proposal group {i}")
        group = self._proposals.pop(i)
        self._fill_proposals()
        return group

    def accept_proposal(self, i: int) -> dict:
        """Assign proposal group ``i``'s class to its segments (one undoable action).

        Returns
        -------
        dict
            The number of changed pixels per image (see ``Session.assign``).
        """
        if self.busy:
            raise RuntimeError("wait for the running job to finish (or cancel it)")
        group = self._take_proposal(i)
        cid, ids, _conf = group
        s = self._session
        if cid not in s.classes:
            raise KeyError(f"class {cid} no longer exists")
        # only the segments still there and still unlabelled: a label given since stays
        ids = ids[np.isin(ids, s.segments.ids)]
        ids = ids[s.segment_class[s.segments.rows_of(ids)] == 0]
        if ids.size == 0:
            self._status("nothing to accept: the group's segments were labelled or changed since")
            return {}
        changed = self.assign(ids, cid)  # (the scatter and the local views follow)
        if changed:  # its undo puts the group back in the list
            self._accepted.append((s.history.last_done, i, group))
        return changed

    def _after_history(self, which: str, desc: str, closed: int = 0) -> None:
        """After an undo or redo: an accepted group's undo puts it back, its redo takes it
        out again; the status says so, and how many local views closed (``closed``)."""
        s, note = self._session, ""
        action = s.history.last_undone if which == "undo" else s.history.last_done
        for act, place, group in self._accepted:
            if act is not action:
                continue
            here = any(g is group for g in self._proposals)
            if which == "undo" and not here:
                self._proposals.insert(min(place, len(self._proposals)), group)
                note = "; its proposal group is back in the list"
            elif which == "redo" and here:
                self._proposals = [g for g in self._proposals if g is not group]
                note = "; its proposal group is out of the list again"
            self._fill_proposals()
            break
        self._status(f"{which}: {desc}{note}{self._local_views_note(closed)}")

    def reject_proposal(self, i: int) -> None:
        """Drop proposal group ``i`` without applying it."""
        self._take_proposal(i)

    # ================================================================ batches
    def _ask_add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to add")
        if folder:
            self.add_images(folder)

    def add_images(self, sources, sync: bool | None = None) -> Job:
        """Add images to the session as a job: partition, features and placement.

        Parameters
        ----------
        sources : folder, file list or array list
        sync : bool, optional

        Returns
        -------
        Job

        Notes
        -----
        Runs on a fork whose lists are copied, so the shown session is untouched
        until the job has finished. The undo history is cleared.
        """
        from ..batches import add_images

        live = self._need_session()
        if not live.label_images:
            raise RuntimeError("run the pipeline (Start) first")
        bands = self.chosen_bands()  # else the session's own choice
        tile = self.chosen_tile()  # likewise
        fork = live.fork()
        for name in ("images", "class_masks", "manual_masks"):
            setattr(fork, name, list(getattr(live, name)))
        fork.load_failures = {}  # this batch's unreadable files, reported when it is done

        def job(progress):
            n = add_images(fork, sources, progress=progress, bands=bands, tile=tile)
            return fork, n

        def done(result) -> None:
            f, n = result
            if self._session is not live:
                return
            skipped, f.load_failures = f.load_failures, {**live.load_failures, **f.load_failures}
            self._adopt_pipeline(f)
            self._show_bands(f)
            self.image_spin.setMaximum(max(f.n_images, 1))
            self._warn_skipped(skipped)  # as Open folder does
            self._status(f"added {f.n_images - live.n_images} images, {n} segments; "
                         f"{self._summary()}")  # fmt: skip

        job_ = self._run("add images", job, done, sync)
        self._update_learn_enabled()
        return job_

    # ================================================================ local view
    def open_local_view(self, ids=None, sync: bool | None = None) -> Job:
        """Project segments on their own in a new tab, as a job; box or lasso there labels them.

        Parameters
        ----------
        ids : array of int, optional
            Segment ids (default: the last selection).
        sync : bool, optional
            Run in the calling thread (default: in a worker when a Qt app runs).

        Returns
        -------
        Job
            When it is done the tab is open and its scatter is the last of
            :attr:`local_views` (its points are ``ids`` in order, ``view.segment_ids``).
        """
        from ..batches import local_view

        s = self._need_session()
        ids = self.selected_ids if ids is None else np.asarray(ids, np.int64)
        ids = np.unique(ids)
        if ids.size < 2:
            raise ValueError("select at least 2 segments for a local view")

        def job(progress):
            return local_view(s, ids, progress=progress)  # UMAP: seconds for 1000s of points

        def done(xy) -> None:
            if self._session is s:  # (no structural edit can run during a job)
                self._add_local_view(s, ids, xy)

        job_ = self._run("local view", job, done, sync)
        self._update_learn_enabled()
        return job_

    @property
    def local_views(self) -> list:
        """The scatters of the open local views, oldest first."""
        return list(self._local_views)

    def _add_local_view(self, s, ids: np.ndarray, xy: np.ndarray):
        """Open the tab of a local view computed by :meth:`open_local_view`."""
        from .scatter import ScatterView

        view = ScatterView()
        view.segment_ids = ids
        view.session = s
        view.footprint = self._footprint(s, ids)  # it closes when this changes
        view.set_points(xy, self.point_colors()[s.segments.rows_of(ids)])
        view.selection_made.connect(lambda rows, v=view: self._on_local_selection(v, rows))
        view.point_clicked.connect(lambda k, v=view: self._on_local_point_clicked(v, k))
        view.hide_labelled_toggled.connect(lambda _on: self._refresh_local_views())
        view.set_thumbnail_provider(lambda r, v=view: self.thumbnails(
            int(s.segments.rows_of(v.segment_ids[r:r + 1])[0])))  # fmt: skip
        page = QWidget()
        page.setMinimumHeight(320)
        pl = QVBoxLayout(page)
        close = QPushButton("Close local view")
        pl.addWidget(QLabel(f"{ids.size} segments, projected on their own"))
        pl.addWidget(view, 1)
        pl.addWidget(close)
        scroll = QScrollArea()
        scroll.setWidget(page)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        index = self.tabs.addTab(scroll, f"Local ({ids.size})")
        close.clicked.connect(lambda: self._close_local_view(view, scroll))
        view.page = scroll
        self._local_views.append(view)
        self.tabs.setCurrentIndex(index)
        return view

    def _close_local_view(self, view, scroll) -> None:
        if view in self._local_views:
            self._local_views.remove(view)
        index = self.tabs.indexOf(scroll)
        if index >= 0:
            self.tabs.removeTab(index)
        scroll.deleteLater()

    def _on_local_selection(self, view, rows) -> None:
        rows = np.asarray(rows, np.intp)
        if view not in self._local_views or self._session is not view.session:
            return  # a closed (or out-of-date) view labels nothing
        if self.busy:  # (the view is disabled then: only a call from code gets here)
            self._status("nothing labelled while a job runs (wait, or cancel it)")
            return
        view.highlight(rows)
        if not rows.size:
            return
        ids = view.segment_ids[rows]
        self._selected_ids = ids.astype(np.int64)
        cid = self.current_class
        if cid == 0:
            self._warn(f"{rows.size} segments selected: add a class to label them")
            return
        self.assign(ids, cid)

    def _on_local_point_clicked(self, view, k: int) -> None:
        """A click in a local view does what one on the segment's point in the main scatter does."""
        s = self._session
        if view not in self._local_views or s is not view.session:
            return  # a closed (or out-of-date) view focuses nothing
        row = -1 if k < 0 else int(s.segments.rows_of(view.segment_ids[k : k + 1])[0])
        self._on_point_clicked(row)

    def _focus_local_views(self, segment_id: int) -> None:
        """Ring a segment's point in the local views that hold it; clear the others (0: all)."""
        for view in getattr(self, "_local_views", ()):
            k = np.flatnonzero(view.segment_ids == segment_id)
            if k.size and view.session is self._session:
                view.focus_point(int(k[0]))
            else:
                view.clear_focus()

    @staticmethod
    def _footprint(s, ids: np.ndarray) -> np.ndarray | None:
        """The image, box and area of segments ``ids`` (None when one is gone).

        A split keeps the old id for one part and a merge the smallest id: the id
        stays, its area (and most often its box) changes.
        """
        seg = s.segments
        if not np.isin(ids, seg.ids).all():
            return None
        rows = seg.rows_of(ids)
        return np.column_stack([seg.image[rows], seg.bbox[rows], seg.area[rows]]).astype(np.int64)

    @staticmethod
    def _local_views_note(closed: int) -> str:
        """The end of a status saying that ``closed`` local views closed ("" for none)."""
        return f"; {closed} local view(s) closed: their segments changed" if closed else ""

    def _refresh_local_views(self) -> int:
        """Recolour the local views, hide their labelled points when asked, and close the
        views whose segments changed (another session; a split, merge or re-cut, or the
        undo of one). Returns the number of views closed."""
        if not getattr(self, "_local_views", None):  # none open (or the tab not built yet)
            return 0
        s = self._session
        colors = self.point_colors() if s is not None else None
        closed = 0
        for view in list(self._local_views):
            if s is None or view.session is not s or not np.array_equal(
                    self._footprint(s, view.segment_ids), view.footprint):  # fmt: skip
                self._close_local_view(view, view.page)
                closed += 1
                continue
            rows = s.segments.rows_of(view.segment_ids)
            view.set_colors(colors[rows])
            view.set_visible_mask(s.segment_class[rows] == 0 if view.hide_labelled else None)
        if closed:  # (an edit's or undo's status, set right after, says it again)
            self._status(f"{closed} local view(s) closed: their segments changed")
        return closed
