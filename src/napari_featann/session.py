"""The annotation session: the one owner of state.

A :class:`Session` holds the images, the partition parameters, the segments,
their features and 2-D embedding, the classes, the class of each segment,
the per-pixel class masks (what napari's Labels layers show) and an undo
history. It imports no Qt; the napari widgets are thin views over it. The
class edits (add, rename, recolour, delete) are in :mod:`.session_classes`.

Every long step takes a :class:`~napari_featann.core.progress.Progress` and
changes nothing until it has finished, so a cancelled step leaves the
previous state intact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from . import checks
from .core.gradient import compute_gradient
from .core.history import Action, History
from .core.images import ImageRecord, load_collection
from .core.memory import check_partition_memory
from .core.partition import Hierarchy, PartitionParams, build_hierarchy, cut_hierarchy
from .core.progress import Progress, ensure_progress
from .core.regions import SegmentTable, as_segment_ids, offset_labels, table_from_label_images
from .core.selection import points_in_box, points_in_polygon
from .finite import require_finite_features, require_finite_rows
from .params import ClassInfo, FeatureParams, ProjectionParams
from .session_classes import ClassesMixin
from .structure import Structure as _Structure
from .structure import held_bytes as _held_bytes
from .structure import in_current_layout

__all__ = ["ClassInfo", "FeatureParams", "ProjectionParams", "Session"]


def _mapped_zeros(shape: tuple[int, int]) -> np.ndarray:
    """A zeroed uint8 class mask whose memory is mapped now.

    ``np.zeros`` leaves pages unmapped until their first write, so the first box over
    many images would pay a page fault per 4 KiB of every mask it fills.
    """
    mask = np.empty(shape, np.uint8)
    mask.fill(0)
    return mask


class Session(ClassesMixin):
    """State of one annotation project.

    Parameters
    ----------
    images : list of ImageRecord
        The collection (see :func:`napari_featann.core.images.load_collection`).
    partition, features, projection : parameter dataclasses, optional

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((40, 40), np.uint8); img[10:30, 10:30] = 200
    >>> s = Session.from_sources([img])
    >>> s.partition_params.regions = 4
    >>> s.partition()
    >>> len(s.segments) >= 2
    True
    """

    def __init__(
        self,
        images: Sequence[ImageRecord],
        partition: PartitionParams | None = None,
        features: FeatureParams | None = None,
        projection: ProjectionParams | None = None,
    ) -> None:
        self.images: list[ImageRecord] = list(images)
        self.partition_params = partition or PartitionParams()
        self.feature_params = features or FeatureParams()
        self.projection_params = projection or ProjectionParams()
        self.load_failures: dict[str, str] = {}
        self.gradients: list[np.ndarray | None] = [None] * len(self.images)
        self._gradient_keys: list[tuple | None] = [None] * len(self.images)
        self._hierarchies: dict[int, Hierarchy] = {}
        self.label_images: list[np.ndarray] = []
        self.segments = SegmentTable.empty()
        self.features: np.ndarray | None = None
        self.embedding: np.ndarray | None = None
        self.classes: dict[int, ClassInfo] = {}
        self.segment_class = np.zeros(0, np.int32)
        self.class_masks: list[np.ndarray] = [_mapped_zeros(r.shape2d) for r in self.images]
        self.manual_masks: list[np.ndarray] = [np.zeros(r.shape2d, bool) for r in self.images]
        self.next_id = 1
        self.history = History()
        self._extractor = None
        self._projector = None
        self._pixel_index: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.refined_features: np.ndarray | None = None  # after metric learning
        self.metric_state: tuple | None = None  # ("head", ProjectionHead) or ("full", model)

    # ------------------------------------------------------------ creation
    @classmethod
    def from_sources(cls, sources, names=None, axes=None, bands=None, tile=None,
                     **params) -> Session:  # fmt: skip
        """Load images (folder, files or arrays) into a new session.

        A stack contributes each of its planes, an image larger than ``tile``
        its tiles; ``names``, ``axes``, ``bands`` (the channels to keep of
        multi-band images) and ``tile`` are as in
        :func:`napari_featann.core.images.load_collection`. Unreadable files are
        skipped and listed in ``load_failures``.
        """
        records, failures = load_collection(sources, names=names, axes=axes, bands=bands,
                                            tile=tile)  # fmt: skip
        session = cls(records, **params)
        session.load_failures = failures
        return session

    def fork(self) -> Session:
        """A working copy for a background job; this session stays untouched.

        The copy shares the images, classes, pixel masks and (read-only)
        arrays, but owns its caches, history and the lists a job rebinds, so
        running :meth:`run`, :meth:`partition` or :meth:`project` on it changes
        nothing here; a GUI then adopts the copy (or parts of it) once the job
        has finished.
        """
        import copy

        f = copy.copy(self)
        f.partition_params = copy.deepcopy(self.partition_params)
        f.feature_params = copy.deepcopy(self.feature_params)
        f.projection_params = copy.deepcopy(self.projection_params)
        f.gradients = list(self.gradients)
        f._gradient_keys = list(self._gradient_keys)
        f._hierarchies = dict(self._hierarchies)
        f._pixel_index = {}
        f.label_images = list(self.label_images)
        f.classes = dict(self.classes)
        f.history = History()
        return f

    @property
    def n_images(self) -> int:
        """Number of images."""
        return len(self.images)

    def float_image(self, index: int) -> np.ndarray:
        """Image ``index`` as float32 RGB in [0, 1]."""
        return self.images[index].float_rgb()

    # ------------------------------------------------------------ partition
    def compute_gradients(self, indices=None, progress: Progress | None = None) -> None:
        """Compute (or reuse) the gradient of each image for the current parameters.

        An image whose partition would need more memory than is available is
        refused (ValueError, see :func:`.core.memory.check_partition_memory`)
        before any work: the process would be killed, the session with it.
        """
        p = self.partition_params.validate()
        key = p.gradient_key()
        todo = [
            i
            for i in (range(self.n_images) if indices is None else indices)
            if self._gradient_keys[i] != key or self.gradients[i] is None
        ]
        check_partition_memory((self.images[i].name, self.images[i].shape2d) for i in todo)
        progress = ensure_progress(progress)
        progress.init(len(todo), "gradient")
        new = {}
        for i in todo:
            new[i] = compute_gradient(
                self.float_image(i), p.gradient, p.edge_weights, p.scales, progress=progress
            )
            progress.update(1)
        for i, g in new.items():
            self.gradients[i] = g
            self._gradient_keys[i] = key
            self._hierarchies.pop(i, None)

    def hierarchy(self, index: int, params: PartitionParams | None = None) -> Hierarchy:
        """The (cached) watershed hierarchy of image ``index`` for ``params`` (default: the
        session's), which must have the gradient of the session's."""
        p = self.partition_params if params is None else params
        h = self._hierarchies.get(index)
        if h is None or h.criterion != p.criterion or h.frontier != float(p.frontier):
            if self.gradients[index] is None:
                self.compute_gradients([index])
            h = build_hierarchy(self.gradients[index], p.criterion, p.frontier)
            self._hierarchies[index] = h
        return h

    def cut_image(self, index: int) -> np.ndarray:
        """Local labels (1..k) of image ``index`` for the current parameters (no state change)."""
        p = self.partition_params.validate()
        return cut_hierarchy(self.hierarchy(index), p.threshold, p.regions)

    def partition(self, progress: Progress | None = None) -> None:
        """Partition every image; replaces segments, features, embedding and segment classes.

        Pixel class masks are kept; use :meth:`napari_featann.editing.recut` to
        carry segment labels over to a new partition instead.
        """
        progress = ensure_progress(progress)
        self.compute_gradients(progress=progress)
        progress.init(self.n_images, "partition")
        labels, offset = [], 0
        for i in range(self.n_images):
            local = self.cut_image(i)
            labels.append(offset_labels(local, offset))
            offset += int(local.max())
            progress.update(1)
        segments = table_from_label_images(labels)
        self._set_structure(
            _Structure(labels, segments, np.zeros(len(segments), np.int32), None, None, offset + 1)
        )
        self.refined_features = None  # a learned metric belongs to the old segments
        self.metric_state = None
        self.history.clear()

    # ------------------------------------------------------------ structure
    def _structure(self, images) -> _Structure:
        """The current structure, with copies of the class masks of ``images`` only."""
        return _Structure(
            list(self.label_images), self.segments, self.segment_class.copy(),
            self.features, self.embedding, self.next_id,
            {int(i): self.class_masks[i].copy() for i in images}, self.refined_features,
            (self._projector, self.metric_state),
        )  # fmt: skip

    def _set_structure(self, s: _Structure, keep_layout: bool = False) -> None:
        self.label_images = list(s.label_images)
        self.segments = s.segments
        # a copy: labelling writes segment_class in place, and the saved state must not move
        self.segment_class = np.array(s.segment_class, np.int32)
        self.next_id = int(s.next_id)
        if not keep_layout:  # edits of the classes keep them: a projection made since stays
            self.features, self.embedding = s.features, s.embedding
            self.refined_features = s.refined
            if s.fit is not None:  # else new points would go through another layout's model
                self._projector, self.metric_state = s.fit
        for i, new in s.class_masks.items():
            self.class_masks[i][...] = new  # in place: napari Labels layers share these arrays
        self._pixel_index.clear()

    def push_structural_action(self, description: str, before: _Structure, after: _Structure,
                               params: tuple | None = None):  # fmt: skip
        """Record a structural edit (both states already computed) for undo; ``params``, the
        partition parameters before and after (a re-cut of all images), go back and forth too."""

        def put(state: _Structure, p) -> None:  # a layout made since the step stays
            self._set_structure(in_current_layout(self, state, before, after))
            self.partition_params = self.partition_params if p is None else p

        old, new = params or (None, None)
        self.history.push(Action(description, lambda: put(before, old), lambda: put(after, new),
                                 _held_bytes(before, after)))  # fmt: skip

    def segment_pixels(self, segment_id: int) -> tuple[int, np.ndarray]:
        """Image index and flat pixel indices of a segment."""
        row = self.segments.rows_of([segment_id])[0]
        img = int(self.segments.image[row])
        order, ids, starts = self._index(img)
        k = np.searchsorted(ids, segment_id)
        return img, order[starts[k] : starts[k + 1]]

    def _index(self, img: int):
        if img not in self._pixel_index:
            flat = self.label_images[img].ravel()
            order = np.argsort(flat, kind="stable")
            ids, counts = np.unique(flat[order], return_counts=True)
            starts = np.concatenate([[0], np.cumsum(counts)])
            self._pixel_index[img] = (order, ids, starts)
        return self._pixel_index[img]

    def segment_at(self, image_index: int, row: float, col: float) -> int:
        """Id of the segment under a pixel, 0 outside the image (a click beside it); ``row``
        and ``col`` are rounded to the nearest pixel, as split clicks are."""
        lab = self.label_images[checks.image_index(self, image_index, partitioned=True)]
        r, c = checks.pixel(row, "row"), checks.pixel(col, "column")
        return int(lab[r, c]) if 0 <= r < lab.shape[0] and 0 <= c < lab.shape[1] else 0

    # ------------------------------------------------------------ features + projection
    def extractor(self):
        """The feature extractor for the current parameters (built lazily, cache kept)."""
        from .ml.extractor import FeatureExtractor

        fp = self.feature_params
        key = (fp.backbone, fp.weights, fp.device, fp.margin, fp.context, fp.context_levels,
               fp.context_scale, fp.context_weight)  # fmt: skip
        if self._extractor is None or self._extractor_key != key:
            self._extractor = FeatureExtractor(
                fp.backbone, weights=fp.weights, device=fp.device,
                batch_size=fp.batch_size, margin=fp.margin, context=fp.context,
                context_levels=fp.context_levels, context_scale=fp.context_scale,
                context_weight=fp.context_weight,
            )  # fmt: skip
            self._extractor_key = key
        return self._extractor

    def check_extractor(self, progress: Progress | None = None) -> int:
        """Build the feature extractor and load its backbone now, before any costly work.

        What would otherwise fail only when features are extracted, after a
        partition that may take minutes, fails here in seconds: a backbone
        that timm does not know, a weights file that is missing or does not
        fit the backbone, more context levels than the backbone has. The
        loaded extractor is kept, so the extraction does not load it again.

        Parameters
        ----------
        progress : Progress, optional
            Shows a one-step stage, "checking the backbone".

        Returns
        -------
        int
            Length of a feature vector.

        Raises
        ------
        ValueError
            An unknown backbone, an unusable device, too many context levels.
        WeightsError
            A weights file that is missing, unreadable or does not fit the backbone.
        """
        progress = ensure_progress(progress)
        progress.init(1, "checking the backbone")
        dim = self.extractor().dim  # loads the model; refuses too many context levels
        progress.update(1)
        return dim

    def compute_features(self, rows=None, progress: Progress | None = None, table=None,
                         label_images=None) -> np.ndarray:  # fmt: skip
        """Features of segment rows (default all) without storing them.

        ``table`` and ``label_images`` describe segments that are not yet in the
        session (a preview of an edit); by default the session's own.
        """
        if table is None:
            table = self.segments if rows is None else self.segments.take(rows)
        labels = self.label_images if label_images is None else label_images
        used = set(np.unique(table.image).tolist())
        images = [self.float_image(i) if i in used else None for i in range(self.n_images)]
        return self.extractor().extract(images, labels, table, progress=progress)

    def place(self, features: np.ndarray, refined: np.ndarray | None = None) -> np.ndarray:
        """2-D positions for new segments: UMAP ``transform`` when the projection is fitted.

        After a reload (the UMAP model is not saved, as it would need pickle), or
        when the layout was fit on the features of a fine-tuned backbone (which
        ``features``, from the session's own backbone, are not), new points go
        next to their nearest neighbour in feature space: the fine-tuned
        backbone's when ``refined`` gives their rows there
        (:func:`~napari_featann.learning.fine_tuned_features`) and the session's
        refined features are its segments', else the backbone's.
        """
        require_finite_rows(features, "features to place")  # NaN: placed anywhere, or nowhere
        state = getattr(self, "metric_state", None)  # set by learning.train_metric
        if self._projector is not None and (state is None or state[0] != "full"):
            if (state is not None and state[0] == "head"
                    and np.shape(features)[1] == state[1].in_dim
                    and self._projector._dim == state[1].out_dim):  # fmt: skip
                features = state[1].embed(features)  # the layout was fit on refined features
            return np.asarray(self._projector.transform(features), np.float32)
        if self.embedding is None or self.features is None or not len(self.features):
            raise RuntimeError("project the features first")
        space, now = self.features, self.refined_features
        if (refined is not None and state is not None and state[0] == "full"
                and now is not None and len(now) == len(self.embedding)):  # fmt: skip
            require_finite_rows(refined, "refined features to place")
            space, features = now, refined
        require_finite_features(self, space, "placing new segments by nearest neighbours")
        # Euclidean, not the dot product: rows with context blocks differ in length, and a
        # longer row would outscore a segment's own twin
        f = np.asarray(features, np.float32)
        d2 = (space**2).sum(1)[None, :] - 2 * (f @ space.T)
        nearest = np.argmin(d2, axis=1)
        jitter = np.random.default_rng(0).normal(0, 0.05, (len(features), 2))
        return (self.embedding[nearest] + jitter).astype(np.float32)

    def extract_features(self, progress: Progress | None = None) -> None:
        """Extract features of every segment (unchanged segments come from the cache).

        A learned metric (projection head or fine-tuned backbone, and its refined
        features) belongs to the features it was trained on, so it is dropped.
        """
        if not len(self.segments):
            raise RuntimeError("partition the images first")
        self.features = self.compute_features(progress=progress)
        self.embedding = None
        self.refined_features = None
        self.metric_state = None

    def ml_labels(self) -> np.ndarray:
        """Class per segment row with -1 for unlabelled (UMAP's convention)."""
        return np.where(self.segment_class > 0, self.segment_class, -1).astype(np.int64)

    def project(self, progress: Progress | None = None, use_labels: bool = True,
                features: np.ndarray | None = None) -> None:  # fmt: skip
        """Fit the 2-D UMAP projection, semi-supervised when labels exist.

        The previous layout, when there is one, initialises the new one so
        that it stays recognisable.
        """
        from .ml.projection import Projector

        feats = self.features if features is None else features
        if feats is None:
            raise RuntimeError("extract features first")
        require_finite_features(self, feats, "projection")  # one NaN row poisons the layout
        pp = self.projection_params
        projector = Projector(pp.n_neighbors, pp.min_dist, pp.target_weight, pp.pca_dim,
                              seed=pp.seed)  # fmt: skip
        labels = self.ml_labels() if use_labels and np.any(self.segment_class > 0) else None
        init = (
            self.embedding
            if self.embedding is not None and len(self.embedding) == len(feats)
            else None
        )
        emb = projector.fit(feats, labels, init=init, progress=progress)
        self._projector, self.embedding = projector, np.asarray(emb, np.float32)

    def run(self, progress: Progress | None = None) -> None:
        """Partition, extract features and project: the whole pipeline."""
        self.partition(progress)
        self.extract_features(progress)
        self.project(progress)

    # ------------------------------------------------------------ labelling
    def assign(self, segment_ids, class_id: int, description: str | None = None) -> dict[int, int]:
        """Give ``class_id`` (0 = unlabelled) to segments, pixels included; undoable.

        Pixels painted by hand (``manual_masks``) are never overwritten.
        Compiled passes per touched image, on all cores, write the pixels
        (:func:`~napari_featann.core.pixels.assign_pixels_many`); an image whose
        segments are all taken is written without reading its label image.

        Returns
        -------
        dict of int to int
            Per touched image, the number of pixels that changed; empty when
            nothing changed (no step in the history then). Ids that are no whole
            numbers or segments, or no class, raise before any change.
        """
        from .core.pixels import assign_pixels_many, redo_many, undo_many

        class_id = checks.class_id(self, class_id)
        ids = np.unique(as_segment_ids(segment_ids))
        if ids.size == 0:
            return {}  # nothing to label: no step in the history either
        rows = self.segments.rows_of(ids)
        old_rows_class = self.segment_class[rows].copy()
        selected = np.zeros(int(max(self.next_id, ids.max(initial=0) + 1)), bool)
        selected[ids] = True
        img_of = self.segments.image[rows]
        images = [int(i) for i in np.unique(img_of)]
        boxes = [self.segments.bbox[rows[img_of == i]] for i in images]
        changes = dict(zip(images, assign_pixels_many(
            [self.label_images[i] for i in images], selected,
            [self.manual_masks[i] for i in images], [self.class_masks[i] for i in images],
            class_id, boxes, self._covers_image(rows, images)), strict=True))  # fmt: skip
        if (old_rows_class == class_id).all() and not any(c.count for c in changes.values()):
            return {}  # they have that class already: no empty step in the history
        self.segment_class[rows] = class_id

        def undo():
            undo_many(changes.values())
            self.segment_class[rows] = old_rows_class

        def redo():
            redo_many(changes.values())
            self.segment_class[rows] = class_id

        name = self.classes[class_id].name if class_id else "unlabelled"
        self.history.push(Action(description or f"label {ids.size} segments as {name}", undo, redo))
        return {img: change.count for img, change in changes.items()}

    def _covers_image(self, rows: np.ndarray, images: list[int]) -> list[bool]:
        """Per image, whether ``rows`` hold all of its segments and they tile all its pixels."""
        seg, n = self.segments, self.n_images
        taken = np.bincount(seg.image[rows], minlength=n)
        total = np.bincount(seg.image, minlength=n)
        area = np.bincount(seg.image, weights=seg.area, minlength=n)
        return [bool(taken[i] == total[i] and area[i] == self.label_images[i].size)
                for i in images]  # fmt: skip

    def paint(self, image_index: int, mask: np.ndarray, class_id: int) -> None:
        """Paint ``mask`` (image-shaped) with ``class_id`` (0 erases); its pixels become protected."""
        i, class_id = checks.image_index(self, image_index), checks.class_id(self, class_id)
        cm, mm = self.class_masks[i], self.manual_masks[i]
        mask = checks.paint_mask(mask, cm.shape)
        idx = np.flatnonzero(mask.ravel())
        old_c, old_m = cm.ravel()[idx].copy(), mm.ravel()[idx].copy()
        cm.ravel()[idx] = class_id
        mm.ravel()[idx] = True

        def undo():
            cm.ravel()[idx] = old_c
            mm.ravel()[idx] = old_m

        def redo():
            cm.ravel()[idx] = class_id
            mm.ravel()[idx] = True

        self.history.push(Action(f"paint {idx.size} pixels", undo, redo))

    def mark_painted(self, image_index: int, flat_indices, old_values, new_values=None) -> None:
        """Record pixels painted into ``class_masks[image_index]`` (napari's brush).

        The pixels keep (or get) their new values, become protected from
        :meth:`assign` (``manual_masks``), and the change is undoable like
        :meth:`paint`. ``old_values`` (scalar or one per index, 0 to 255: napari's
        label box takes ids that are no class) are the values before painting;
        ``new_values`` those after, read from the array when not given (napari
        may report a paint before it writes it).
        """
        i = checks.image_index(self, image_index)
        cm, mm = self.class_masks[i], self.manual_masks[i]
        idx = checks.flat_pixels(flat_indices, cm.shape)
        new_c = (cm.ravel()[idx].copy() if new_values is None
                 else checks.class_values(new_values, idx.size, "new values"))  # fmt: skip
        old_c = checks.class_values(old_values, idx.size, "old values")
        old_m = mm.ravel()[idx].copy()
        mm.ravel()[idx] = True

        def undo():
            cm.ravel()[idx] = old_c
            mm.ravel()[idx] = old_m

        def redo():
            cm.ravel()[idx] = new_c
            mm.ravel()[idx] = True

        self.history.push(Action(f"paint {idx.size} pixels", undo, redo))

    def undo(self) -> str | None:
        """Undo the last action; returns its description (None if nothing to undo)."""
        a = self.history.undo()
        return a.description if a else None

    def redo(self) -> str | None:
        """Redo the last undone action; returns its description."""
        a = self.history.redo()
        return a.description if a else None

    # ------------------------------------------------------------ scatter selection
    def select_box(self, corner0, corner1, unlabelled_only: bool = False) -> np.ndarray:
        """Segment ids whose embedding lies in a box (scatter coordinates)."""
        return self._ids_of(points_in_box(self._emb(), corner0, corner1), unlabelled_only)

    def select_lasso(self, vertices, unlabelled_only: bool = False) -> np.ndarray:
        """Segment ids whose embedding lies in a lasso polygon (scatter coordinates)."""
        return self._ids_of(points_in_polygon(self._emb(), vertices), unlabelled_only)

    def _emb(self) -> np.ndarray:
        if self.embedding is None:
            raise RuntimeError("project the features first")
        return self.embedding

    def _ids_of(self, rows: np.ndarray, unlabelled_only: bool) -> np.ndarray:
        if unlabelled_only:
            rows = rows[self.segment_class[rows] == 0]
        return self.segments.ids[rows]

    # ------------------------------------------------------------ summary
    def summary(self) -> dict:
        """Counts for status lines and logs."""
        return {
            "images": self.n_images,
            "segments": len(self.segments),
            "labelled": int(np.count_nonzero(self.segment_class)),
            "classes": len(self.classes),
            "features": None if self.features is None else list(self.features.shape),
            "projected": self.embedding is not None,
        }

    def params_dict(self) -> dict:
        """All parameters, JSON-safe."""
        return {
            "partition": self.partition_params.to_dict(),
            "features": asdict(self.feature_params),
            "projection": asdict(self.projection_params),
        }
