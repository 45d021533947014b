"""The dock's long jobs: pipeline, partition preview, re-cut, re-projection.

A mixin of :class:`~napari_featann._widgets.dock.FeatureSpaceWidget`. Every
job computes in a worker thread and commits on the main thread when it has
finished, so a cancelled or failed job leaves the session as it was:

- *pipeline* (Start): partition + features + projection on a fork of the
  session (:meth:`Session.fork`); the dock then shows the fork, which keeps
  the classes and the pixel masks (labels are carried to the new segments
  by overlap). Newly picked images are read into a new session that is
  shown only when its pipeline has succeeded.
- *preview*: the cut of the current image under the panel's parameters,
  shown in its segments layer only.
- *re-cut* (Apply to all, same gradient): :func:`napari_featann.editing.recut`,
  which keeps the layout and carries labels, as one undoable action.
- *re-project*: UMAP on a fork; the new layout is copied back.
"""

from __future__ import annotations

import numpy as np

from ._compat import avoid_llvm_clash
from .workers import Job, run_job

__all__ = ["JobsMixin", "carry_pixel_labels"]


def carry_pixel_labels(session, min_fraction: float = 0.5) -> int:
    """Give each segment the class covering most of its pixels (>= ``min_fraction``).

    Used after a fresh partition so that labelled pixels keep their meaning in
    the scatter. Returns how many segments got a class.
    """
    from ..core.correction import transfer_labels

    n = 0
    for i, lab in enumerate(session.label_images):
        cm = session.class_masks[i]
        if not cm.any():
            continue
        classes, _ = transfer_labels(lab, cm, lab, min_fraction)
        classes = {k: v for k, v in classes.items() if v in session.classes}
        if classes:
            rows = session.segments.rows_of(list(classes))
            session.segment_class[rows] = list(classes.values())
            n += len(classes)
    return n


class JobsMixin:
    """Runs the dock's jobs one at a time (needs the dock's widgets and helpers)."""

    def _init_jobs(self) -> None:
        self._job: Job | None = None
        self._job_name = ""
        self._adopt_after_job = False  # a session file was opened while a job ran

    @property
    def busy(self) -> bool:
        """Whether a job is running."""
        return self._job is not None and self._job.running

    @property
    def job(self) -> Job | None:
        """The running (or last) job."""
        return self._job

    def cancel(self) -> None:
        """Cancel the running job (it stops at its next checkpoint; nothing changes)."""
        if self.busy:
            self._job.cancel()
            self._status(f"cancelling {self._job_name}…")

    def _run(self, name: str, fn, on_done, sync: bool | None, on_failed=None) -> Job:
        """Run ``fn`` as the dock's job; ``on_done(result)`` commits on the main thread.

        An error is reported, unless ``on_failed(exc)`` returns True (it handled it).
        """
        if self.busy:
            raise RuntimeError(f"{self._job_name} is running: wait or cancel it")
        self._job_name = name
        avoid_llvm_clash()  # the job may import torch; OpenGL may have started since

        def on_error(exc: BaseException) -> None:
            if self._closed or (on_failed is not None and on_failed(exc)):
                return
            self._error(name.capitalize(), f"{type(exc).__name__}: {exc}"
                        if not str(exc) else str(exc))  # fmt: skip

        def on_finished(status: str) -> None:
            if self._closed:  # the dock was closed while the job ran
                return
            if status == "cancelled":
                self._status(f"{name} cancelled: nothing changed")
            self._update_enabled()
            self.job_finished.emit(name, status)
            if self._adopt_after_job:  # a session opened meanwhile is shown now
                self._adopt_after_job = False
                self._adopt_opened_sessions()

        self._status(f"{name}…")

        def commit(result):
            return None if self._closed else on_done(result)

        self._job = run_job(fn, progress_desc=name, on_done=commit, on_error=on_error,
                            on_finished=on_finished, parent_widget=self, sync=sync)  # fmt: skip
        self._update_enabled()
        return self._job

    def _need_session(self):
        if self._session is None:
            raise RuntimeError("pick image layers or open a folder first")
        return self._session

    # ------------------------------------------------------------ pipeline
    def start(self, sync: bool | None = None) -> Job:
        """Partition, extract features and project every image, as one cancellable job.

        Uses the Image layers picked in the list when they differ from the
        session's, when channels were typed in *Bands* or when the *Tiles*
        size changed since they were loaded (a new session, shown only when
        the job succeeds: a failed or cancelled Start keeps the session shown);
        otherwise re-runs on the current session with the panels' parameters.
        """
        picked = self.picked_layers()
        if not picked and self._session is None:
            picked = self.listed_layers()  # nothing picked: all the listed images
        bands = self.chosen_bands()  # typed since the last load: load again with them
        pending = None  # images read for a new session, shown when the job succeeds
        # a layer the session was read from and the user deleted since leaves the pick,
        # which is still the session's: its image stays in the session
        loaded_from = [la for la in self._loaded_from if la in self.viewer.layers]
        if picked and (
            self._session is None
            or bands is not None
            or self.chosen_tile() != self._loaded_tile
            or (
                picked != loaded_from
                and picked
                != [self.layers.source_layers.get(i) for i in range(self._session.n_images)]
            )
        ):
            pending = self.read_images(picked, bands=bands)
        elif self._session is not None and bands is not None:
            raise ValueError(
                "Bands apply when images are loaded: pick the image layers or use "
                "Open folder… (or clear the Bands field to run on these images)"
            )
        elif self._session is not None and self.chosen_tile() != self._loaded_tile:
            was = f"{self._loaded_tile} px" if self._loaded_tile else "off"
            raise ValueError(
                "Tiles apply when images are loaded: pick the image layers or use "
                f"Open folder… (or set Tiles back to {was} to run on these images)"
            )
        live = self._need_session() if pending is None else pending.session
        fork = live.fork()
        fork.partition_params = self.partition_panel.params()
        fork.feature_params = self.features_panel.params(live.feature_params)
        fork.projection_params = self.projection_panel.params(live.projection_params)

        def job(progress):
            fork.check_extractor(progress)  # a bad feature setting fails now, not after the cut
            fork.partition(progress)
            carry_pixel_labels(fork)
            fork.extract_features(progress)
            fork.project(progress)
            return fork

        return self._run("pipeline", job, lambda f: self._adopt_pipeline(f, pending), sync)

    def _adopt_pipeline(self, fork, pending=None) -> None:
        self.clear_clicks()  # split and merge clicks name the old segments
        if pending is not None:  # new images: the session shown is replaced only now
            self.show_loaded(pending, fork)
        else:
            fork.classes = self._session.classes  # classes edited while the job ran
            self._session = fork
            self.layers.retag(fork)
            self.class_manager.set_session(fork)
            self.layers.update_structure()
            self._selected_ids = np.zeros(0, np.int64)
            self._sync_scatter()
        self._touch()
        self._status(f"ready: {self._summary()}. Select points in the scatter to label them.")
        if pending is None:  # (set_session told it already)
            self.session_changed.emit()

    # ------------------------------------------------------------ partition panel
    def preview_partition(self, sync: bool | None = None) -> Job:
        """Show the cut of the current image under the panel's parameters (no state change)."""
        live = self._need_session()
        fork = live.fork()
        fork.partition_params = self.partition_panel.params()
        i = self.current_image

        def job(progress):
            progress.init(1, "preview")
            local = fork.cut_image(i)
            progress.update(1)
            return local

        def done(local) -> None:
            if self._session is live and self.current_image == i:
                self.layers.show_preview(i, local)
                self._status(f"preview: {int(local.max())} segments in this image "
                             "(Apply to all to use them)")  # fmt: skip

        return self._run("preview", job, done, sync)

    def apply_partition(self, sync: bool | None = None, images=None) -> Job:
        """Apply the panel's partition to every image, or to some of them.

        With the same gradient and a projected session this is an undoable
        re-cut that keeps the scatter layout and carries labels over by
        overlap; otherwise the whole pipeline runs (all images only).

        Parameters
        ----------
        sync : bool, optional
        images : sequence of int, optional
            Re-cut only these images (default: all). The session's partition
            parameters, used for images added later, change only when all
            images are re-cut.

        Returns
        -------
        Job
        """
        from ..editing import plan_recut

        live = self._need_session()
        params = self.partition_panel.params()
        same_gradient = params.gradient_key() == live.partition_params.gradient_key()
        ready = live.embedding is not None and live.features is not None
        if images is not None and not (same_gradient and ready):
            raise ValueError("a re-cut of one image keeps the gradient and needs a projected "
                             "session: change the gradient with Apply to all")  # fmt: skip
        if not (same_gradient and ready):
            return self.start(sync)
        self.layers.clear_preview()

        def job(progress):  # computed in the worker; swapped in on the main thread
            return plan_recut(live, params, images=images, progress=progress)

        def done(planned):
            report = planned.apply(live)
            self.clear_clicks()  # the split target and the segments to merge may be gone
            self.layers.update_structure()
            closed = self._sync_scatter(keep_view=True)
            self._touch()
            self._status(f"re-cut: {report.message()}{self._local_views_note(closed)}")
            return report

        return self._run("re-cut", job, done, sync)

    # ------------------------------------------------------------ projection panel
    def reproject(self, sync: bool | None = None) -> Job:
        """Fit the projection again (semi-supervised with the labels so far).

        After metric learning the fit is on the refined features, as training's was.
        """
        from ..learning import refined_features

        live = self._need_session()
        if live.features is None:
            raise RuntimeError("run the pipeline (Start) first")
        fork = live.fork()
        fork.projection_params = self.projection_panel.params(live.projection_params)

        def job(progress):
            fork.project(progress, features=refined_features(fork))
            return fork

        def done(f) -> None:
            if self._session is not live or len(f.embedding) != len(live.segments):
                return  # the session changed meanwhile: drop the stale layout
            live.projection_params = f.projection_params
            live.embedding = f.embedding
            live._projector = f._projector  # the fitted model places new segments later
            self._sync_scatter()
            self._touch()
            self._status("re-projected")

        return self._run("re-project", job, done, sync)
