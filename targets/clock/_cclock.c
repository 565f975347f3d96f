/* The Clock's hot paths in C (optional: targets/clock/_impl.py falls back to pure Python).
 *
 * - timestamp_ns(): the wall clock (CLOCK_REALTIME), never decreasing within the process. The
 *   last value returned lives in one 64-bit word updated by an atomic compare-and-swap "max", so
 *   the guarantee does not depend on the GIL: a call that starts after another returned gets a
 *   value at least as large, whichever threads made them.
 * - utc_now(): the same clamped reading as an aware UTC datetime (truncated to the microsecond).
 * - TimerQueue: TestClock's pending firings and its advance_time loop (a heap of int64
 *   (due, seq) keys plus a FIFO lane per timer interval); a TestClock made while the C
 *   implementation is in use keeps one, the pure twin keeps virtual.py's calendar queue.
 * - TimerQueue.fire_live(): LiveClock's coarse timers, kept in a TimerQueue of their own (see
 *   "LiveClock's coarse timers" below; the pure twin keeps wheel.py's TimingWheel).
 * - wake_fd_new() / wake_fd_arm() (Linux): a timerfd on CLOCK_MONOTONIC that LiveClock's wheel is
 *   woken by (an asyncio reader) instead of loop.call_later, whose epoll timeout asyncio rounds up
 *   to a whole millisecond twice (up to 2 ms late, 1.2-1.5 ms at the median here).
 *
 * Python-level state (heaps, dicts, Timer objects) is only touched with the GIL held, as any
 * extension does; only the never-backwards word is shared without it. The test hook
 * (set_wall_source) is swapped and read under the GIL (CPython 3.11 has one; a free-threaded
 * build would need it atomic too).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <structmember.h>
#include <stdint.h>
#include <time.h>
#ifdef __linux__
#include <errno.h>
#include <sys/timerfd.h>
#include <unistd.h>
#endif

/* ---------------------------------------------------------------- never-backwards reading */
static int64_t last_ns = 0;            /* accessed only through __atomic builtins */
static PyObject *wall_source = NULL;   /* tests only: a callable replacing CLOCK_REALTIME */

static inline int64_t
clamp_ns(int64_t t)
{
    int64_t prev = __atomic_load_n(&last_ns, __ATOMIC_ACQUIRE);
    while (t > prev) {
        if (__atomic_compare_exchange_n(&last_ns, &prev, t, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            return t;
        }
        /* prev now holds the newer value another thread stored: retry against it */
    }
    return prev;
}

/* The clamped wall clock; -1 with an exception set if a test's wall source failed. */
static inline int64_t
read_ns(void)
{
    if (wall_source != NULL) {
        PyObject *v = PyObject_CallNoArgs(wall_source);
        if (v == NULL) {
            return -1;
        }
        long long t = PyLong_AsLongLong(v);
        Py_DECREF(v);
        if (t == -1 && PyErr_Occurred()) {
            return -1;
        }
        return clamp_ns((int64_t)t);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return clamp_ns((int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

static PyObject *
c_timestamp_ns(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    int64_t t = read_ns();
    if (t == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return PyLong_FromLongLong(t);
}

static PyObject *
c_utc_now(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    int64_t t = read_ns();
    if (t == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int64_t us_total = t / 1000;   /* t >= 0 here: a wall clock before 1970 is not supported */
    time_t secs = (time_t)(us_total / 1000000);
    int us = (int)(us_total % 1000000);
    struct tm tm;
    if (t < 0 || gmtime_r(&secs, &tm) == NULL) {
        PyErr_SetString(PyExc_OverflowError, "the wall clock is outside datetime's range");
        return NULL;
    }
    return PyDateTimeAPI->DateTime_FromDateAndTime(
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us,
        PyDateTime_TimeZone_UTC, PyDateTimeAPI->DateTimeType);
}

static PyObject *
c_set_wall_source(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *fn;
    int reset = 0;
    if (!PyArg_ParseTuple(args, "O|p:set_wall_source", &fn, &reset)) {
        return NULL;
    }
    if (fn != Py_None && !PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "the wall source must be callable or None");
        return NULL;
    }
    PyObject *old = wall_source;
    wall_source = (fn == Py_None) ? NULL : Py_NewRef(fn);
    Py_XDECREF(old);
    if (reset) {
        __atomic_store_n(&last_ns, 0, __ATOMIC_RELEASE);
    }
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- slot access */
/* Timer and Call (events.py) are Python classes with __slots__; their member offsets are read once from the
 * class's member descriptors (bind()), then the slots are read and written directly. */
enum { T_NAME, T_INTERVAL, T_NEXT, T_STOP, T_CALLBACK, T_DUE, T_GEN, T_NSLOTS };
static const char *timer_slot_names[T_NSLOTS] = {"name", "interval_ns", "next_ns", "stop_ns",
                                                 "callback", "due", "gen"};
static Py_ssize_t timer_off[T_NSLOTS];
static Py_ssize_t call_fn_off, call_cancelled_off;
static PyTypeObject *TimerType = NULL, *CallType = NULL, *LiveCallType = NULL, *EventType = NULL;
static PyObject *str_time, *str_event_id, *str_report, *str_timers;

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

static inline PyObject *
get_slot(PyObject *obj, Py_ssize_t off, const char *name)
{
    PyObject *v = SLOT(obj, off);
    if (v == NULL) {
        PyErr_Format(PyExc_AttributeError, "slot %s is not set", name);
    }
    return v; /* borrowed */
}

static inline void
set_slot(PyObject *obj, Py_ssize_t off, PyObject *value) /* steals nothing: increfs value */
{
    PyObject *old = SLOT(obj, off);
    SLOT(obj, off) = Py_NewRef(value);
    Py_XDECREF(old);
}

static int
member_offset(PyTypeObject *type, const char *name, Py_ssize_t *out)
{
    PyObject *d = PyObject_GetAttrString((PyObject *)type, name);
    if (d == NULL) {
        return -1;
    }
    if (!Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        Py_DECREF(d);
        PyErr_Format(PyExc_TypeError, "%s.%s is not a __slots__ member", type->tp_name, name);
        return -1;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    if (m->type != T_OBJECT_EX && m->type != T_OBJECT) {
        Py_DECREF(d);
        PyErr_Format(PyExc_TypeError, "%s.%s is not an object slot", type->tp_name, name);
        return -1;
    }
    *out = m->offset;
    Py_DECREF(d);
    return 0;
}

static PyObject *
c_bind(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyTypeObject *timer, *call, *livecall, *event;
    if (!PyArg_ParseTuple(args, "O!O!O!O!:bind", &PyType_Type, &timer, &PyType_Type, &call, &PyType_Type,
                          &livecall, &PyType_Type, &event)) {
        return NULL;
    }
    if (!PyType_IsSubtype(event, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "the event type must be a tuple subclass");
        return NULL;
    }
    for (int i = 0; i < T_NSLOTS; i++) {
        if (member_offset(timer, timer_slot_names[i], &timer_off[i]) < 0) {
            return NULL;
        }
    }
    Py_ssize_t lc_fn, lc_cancelled;
    if (member_offset(call, "fn", &call_fn_off) < 0 || member_offset(call, "cancelled", &call_cancelled_off) < 0 ||
        member_offset(livecall, "fn", &lc_fn) < 0 || member_offset(livecall, "cancelled", &lc_cancelled) < 0) {
        return NULL;
    }
    Py_XSETREF(TimerType, (PyTypeObject *)Py_NewRef(timer));
    Py_XSETREF(CallType, (PyTypeObject *)Py_NewRef(call));
    Py_XSETREF(LiveCallType, (PyTypeObject *)Py_NewRef(livecall));
    Py_XSETREF(EventType, (PyTypeObject *)Py_NewRef(event));
    Py_RETURN_NONE;
}

/* An event (name, event_id, ts_event, ts_init): a tuple subclass built without the tuple() detour. */
static PyObject *
new_event(PyObject *name, PyObject *eid, PyObject *ts_event, PyObject *ts_init)
{
    PyObject *ev = EventType->tp_alloc(EventType, 4);
    if (ev == NULL) {
        return NULL;
    }
    PyTuple_SET_ITEM(ev, 0, Py_NewRef(name));
    PyTuple_SET_ITEM(ev, 1, Py_NewRef(eid));
    PyTuple_SET_ITEM(ev, 2, Py_NewRef(ts_event));
    PyTuple_SET_ITEM(ev, 3, Py_NewRef(ts_init));
    /* A str and three ints can never be part of a cycle: keep the event out of the cyclic GC,
     * as CPython does for plain tuples of atoms (it never does it for tuple subclasses). A long
     * advance's list of a million events then costs the next collection nothing (1.7 s before). */
    if (PyObject_GC_IsTracked(ev) && PyUnicode_CheckExact(name) && PyLong_CheckExact(eid) &&
        PyLong_CheckExact(ts_event) && PyLong_CheckExact(ts_init)) {
        PyObject_GC_UnTrack(ev);
    }
    return ev;
}

/* After the callback: keep the event as the next spare if nobody else holds it, else let it go.
 * A spare is an event a callback did not keep (nothing else referred to it when the callback
 * returned) and that holds only atoms (untracked, see new_event): no Python code can tell it is
 * refilled for the next beat (live_event, below). Reusing it spares the allocation and, above all,
 * the tuple subclass's dealloc (subtype_dealloc), per beat. */
static inline void
event_done(PyObject **spare, PyObject *ev)
{
    if (*spare == NULL && Py_REFCNT(ev) == 1 && !PyObject_GC_IsTracked(ev)) {
        *spare = ev;
        return;
    }
    Py_DECREF(ev);
}

/* ---------------------------------------------------------------- recycled ints */
/* An int object that only the firing loop holds (reference count 1: an item of the spare event, or
 * a Timer slot about to be overwritten) can take its next value in place: no Python code can reach
 * it, so none can tell. LiveClock's heartbeat loop (fire_live) then allocates and frees no int per
 * beat, where it made four (ts_init, event_id, the next next_ns and due) and freed four: under
 * callgrind (10,000 heartbeats on virtual time, the harness's callback) a beat's C part went from
 * about 1,180 instructions to 570, the whole run's from 93.6M to 81.2M per 20,000 beats. Only exact ints, never a value the small-int cache serves, and only a value with
 * as many digits as the object has (a nanosecond time keeps its digit count for decades): else the
 * caller makes a new int as before. CPython 3.11's layout (30-bit digits), as as_i64 below. */
static inline int
long_reusable(PyObject *o, int64_t v)
{
#if PY_VERSION_HEX < 0x030C0000 && PYLONG_BITS_IN_DIGIT == 30
    if (o == NULL || v <= 256 || !PyLong_CheckExact(o) || Py_REFCNT(o) != 1) {
        return 0;
    }
    uint64_t u = (uint64_t)v;
    Py_ssize_t nd = u < (1ULL << 30) ? 1 : (u < (1ULL << 60) ? 2 : 3);
    return Py_SIZE(o) == nd;
#else
    (void)o;
    (void)v;
    return 0;
#endif
}

/* Write v into an int long_reusable() accepted. */
static inline void
long_write(PyObject *o, int64_t v)
{
#if PY_VERSION_HEX < 0x030C0000 && PYLONG_BITS_IN_DIGIT == 30
    uint64_t u = (uint64_t)v;
    digit *d = ((PyLongObject *)o)->ob_digit;
    Py_ssize_t nd = Py_SIZE(o);
    d[0] = (digit)(u & PyLong_MASK);
    if (nd > 1) {
        d[1] = (digit)((u >> 30) & PyLong_MASK);
    }
    if (nd > 2) {
        d[2] = (digit)(u >> 60);
    }
#else
    (void)o;
    (void)v;
#endif
}

/* v as an int: ``old`` itself when it can be recycled (its reference moves to the result), else a
 * new int (and ``old``'s reference is released). NULL with an exception on failure (``old`` released). */
static inline PyObject *
long_recycle(PyObject *old, int64_t v)
{
    if (long_reusable(old, v)) {
        long_write(old, v);
        return old;
    }
    Py_XDECREF(old);
    return PyLong_FromLongLong(v);
}

/* A beat's event (name, eid, ts_event, ts_init) for fire_live: the spare event refilled when there
 * is one, its event_id and ts_init ints recycled; *freed gets the spare's old ts_event (a reference
 * the caller owns: an int the caller may recycle for the timer's next next_ns), or NULL. */
static PyObject *
live_event(PyObject **spare, PyObject *name, int64_t eid, PyObject *ts_event, int64_t ts_init, PyObject **freed)
{
    *freed = NULL;
    PyObject *ev = *spare;
    if (ev == NULL || !PyUnicode_CheckExact(name) || !PyLong_CheckExact(ts_event)) {
        PyObject *t = PyLong_FromLongLong(ts_init);
        PyObject *e = t ? PyLong_FromLongLong(eid) : NULL;
        PyObject *out = e ? new_event(name, e, ts_event, t) : NULL;
        Py_XDECREF(t);
        Py_XDECREF(e);
        return out;
    }
    *spare = NULL; /* from here the event is this beat's; its items are replaced one by one */
    PyObject *old_name = PyTuple_GET_ITEM(ev, 0);
    PyObject *e = long_recycle(PyTuple_GET_ITEM(ev, 1), eid);
    PyObject *t = long_recycle(PyTuple_GET_ITEM(ev, 3), ts_init);
    *freed = PyTuple_GET_ITEM(ev, 2);
    PyTuple_SET_ITEM(ev, 0, Py_NewRef(name));
    PyTuple_SET_ITEM(ev, 1, e);
    PyTuple_SET_ITEM(ev, 2, Py_NewRef(ts_event));
    PyTuple_SET_ITEM(ev, 3, t);
    Py_DECREF(old_name);
    if (e == NULL || t == NULL) { /* no memory: the half-made event goes (tupledealloc skips NULL items) */
        Py_DECREF(ev);
        Py_CLEAR(*freed);
        return NULL;
    }
    return ev;
}

/* ---------------------------------------------------------------- ints as int64 */
/* An int as int64 without a call: CPython 3.11 ints are 30-bit digits, and a nanosecond time
 * (below 2**63) has at most three. Returns 0 when the value does not fit or is not an exact int. */
static inline int
as_i64(PyObject *o, int64_t *out)
{
#if PY_VERSION_HEX < 0x030C0000 && PYLONG_BITS_IN_DIGIT == 30
    if (PyLong_CheckExact(o)) {
        const digit *d = ((PyLongObject *)o)->ob_digit;
        switch (Py_SIZE(o)) {
        case 0: *out = 0; return 1;
        case 1: *out = (int64_t)d[0]; return 1;
        case 2: *out = (int64_t)d[0] | ((int64_t)d[1] << 30); return 1;
        case 3:
            if (d[2] < 8) {
                *out = (int64_t)d[0] | ((int64_t)d[1] << 30) | ((int64_t)d[2] << 60);
                return 1;
            }
            return 0;
        case -1: *out = -(int64_t)d[0]; return 1;
        case -2: *out = -((int64_t)d[0] | ((int64_t)d[1] << 30)); return 1;
        default: return 0;
        }
    }
    return 0;
#else
    int overflow;
    if (!PyLong_Check(o)) {
        return 0;
    }
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = v;
    return 1;
#endif
}

/* ---------------------------------------------------------------- TestClock's queue */
/* TestClock's pending firings when the C implementation is in use: one binary min-heap of plain
 * structs keyed (due, seq), seq being the set order, so firings come out in time order and, at
 * one instant, in the order they were set: the order of the pure twin's calendar queue
 * (virtual.py), which buckets by due time and sorts each bucket by seq. Keys are int64, no
 * Python int is compared, hashed or allocated to keep the order; a recurring timer is re-armed by
 * replacing the heap's top in place (one sift instead of a pop and a push). */
typedef struct {
    int64_t due, seq, gen; /* gen: the Timer's gen when queued (0 for a Call) */
    PyObject *item;        /* a Timer or a Call; owned */
} qent;

/* A lane: the re-armed firings of the timers of one interval, in a FIFO ring. Firings leave the
 * queue in (due, seq) order, so a timer re-armed one interval later lands at or after every
 * firing its lane already holds: appending keeps the lane sorted (checked, else the heap takes
 * it). Ten thousand 1 s heartbeats then cost an append and a pop per firing, not a heap sift. */
#define MAX_LANES 8
typedef struct {
    int64_t interval;
    qent *ring;
    Py_ssize_t head, count, cap; /* cap: a power of two */
} lane;

typedef struct {
    PyObject_HEAD
    qent *h; /* the heap: first firings, alerts, calls, and re-arms no lane took */
    Py_ssize_t n, cap;
    lane lanes[MAX_LANES];
    int nlanes;
    int advancing;
    Py_ssize_t stale; /* LiveClock: entries of cancelled timers still queued (discard() counts them) */
} TimerQueue;

#define LANE_AT(l, i) ((l)->ring[((l)->head + (i)) & ((l)->cap - 1)])

static inline int
qlt(const qent *a, const qent *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

/* Move h[pos] up towards the root. */
static inline void
q_up(qent *h, Py_ssize_t pos)
{
    qent e = h[pos];
    while (pos > 0) {
        Py_ssize_t parent = (pos - 1) >> 1;
        if (!qlt(&e, &h[parent])) {
            break;
        }
        h[pos] = h[parent];
        pos = parent;
    }
    h[pos] = e;
}

/* Re-place the root, heapq's way: move the smaller child up to a leaf, then sift the entry up.
 * A re-armed timer's next firing is usually among the latest: it ends near a leaf anyway, and
 * this takes one comparison per level instead of two. */
static inline void
q_root_down(qent *h, Py_ssize_t n)
{
    if (n <= 1) {
        return;
    }
    qent e = h[0];
    Py_ssize_t pos = 0, limit = n >> 1;
    while (pos < limit) {
        Py_ssize_t child = 2 * pos + 1;
        if (child + 1 < n && qlt(&h[child + 1], &h[child])) {
            child++;
        }
        h[pos] = h[child];
        pos = child;
    }
    h[pos] = e;
    q_up(h, pos);
}

static int
q_push(TimerQueue *q, int64_t due, int64_t seq, int64_t gen, PyObject *item)
{
    if (q->n == q->cap) {
        Py_ssize_t cap = q->cap ? q->cap * 2 : 64;
        qent *grown = PyMem_Realloc(q->h, (size_t)cap * sizeof(qent));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        q->h = grown;
        q->cap = cap;
    }
    q->h[q->n].due = due;
    q->h[q->n].seq = seq;
    q->h[q->n].gen = gen;
    q->h[q->n].item = Py_NewRef(item);
    q_up(q->h, q->n++);
    return 0;
}

/* Remove the heap's top entry; returns its item (the reference moves to the caller). */
static inline PyObject *
q_heap_pop(TimerQueue *q)
{
    PyObject *item = q->h[0].item;
    q->n--;
    if (q->n > 0) {
        q->h[0] = q->h[q->n];
        q_root_down(q->h, q->n);
    }
    return item;
}

/* The earliest entry of the whole queue: -1 none, 0 the heap's top, 1 + k the head of lane k. */
static inline int
q_top(TimerQueue *q, qent **out)
{
    int src = -1;
    qent *best = NULL;
    if (q->n > 0) {
        best = &q->h[0];
        src = 0;
    }
    for (int k = 0; k < q->nlanes; k++) {
        lane *l = &q->lanes[k];
        if (l->count > 0 && (best == NULL || qlt(&l->ring[l->head], best))) {
            best = &l->ring[l->head];
            src = 1 + k;
        }
    }
    *out = best;
    return src;
}

/* Remove the entry q_top returned as src; returns its item (the reference moves to the caller). */
static inline PyObject *
q_pop_src(TimerQueue *q, int src)
{
    if (src == 0) {
        return q_heap_pop(q);
    }
    lane *l = &q->lanes[src - 1];
    PyObject *item = l->ring[l->head].item;
    l->head = (l->head + 1) & (l->cap - 1);
    l->count--;
    return item;
}

/* Drop the stale entry q_top returned as src (a cancelled timer's). */
static inline void
q_drop_src(TimerQueue *q, int src)
{
    Py_DECREF(q_pop_src(q, src));
    if (q->stale > 0) {
        q->stale--;
    }
}

/* The lane a timer of this interval is re-armed into, made on first use; NULL when all are taken. */
static inline lane *
q_lane(TimerQueue *q, int64_t interval)
{
    for (int k = 0; k < q->nlanes; k++) {
        if (q->lanes[k].interval == interval) {
            return &q->lanes[k];
        }
    }
    if (q->nlanes == MAX_LANES) {
        return NULL;
    }
    lane *l = &q->lanes[q->nlanes++];
    l->interval = interval;
    l->ring = NULL;
    l->head = l->count = l->cap = 0;
    return l;
}

static int
lane_append(lane *l, const qent *e)
{
    if (l->count == l->cap) {
        Py_ssize_t cap = l->cap ? l->cap * 2 : 64;
        qent *ring = PyMem_Malloc((size_t)cap * sizeof(qent));
        if (ring == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < l->count; i++) {
            ring[i] = LANE_AT(l, i);
        }
        PyMem_Free(l->ring);
        l->ring = ring;
        l->head = 0;
        l->cap = cap;
    }
    l->ring[(l->head + l->count) & (l->cap - 1)] = *e;
    l->count++;
    return 0;
}

/* Re-arm the entry q_top returned as src at due + interval (same seq, gen and item reference):
 * into its interval's lane when that keeps the lane sorted, else in place in the heap. */
static int
q_rearm_src(TimerQueue *q, int src, int64_t interval)
{
    qent e = src == 0 ? q->h[0] : q->lanes[src - 1].ring[q->lanes[src - 1].head];
    e.due += interval;
    lane *l = q_lane(q, interval);
    if (l != NULL && (l->count == 0 || !qlt(&e, &LANE_AT(l, l->count - 1)))) {
        if (lane_append(l, &e) < 0) {
            return -1;
        }
        (void)q_pop_src(q, src); /* the reference moved to the lane's copy */
        return 0;
    }
    if (src == 0) {
        q->h[0].due = e.due;
        q_root_down(q->h, q->n);
        return 0;
    }
    (void)q_pop_src(q, src);
    if (q_push(q, e.due, e.seq, e.gen, e.item) < 0) {
        Py_DECREF(e.item);
        return -1;
    }
    Py_DECREF(e.item); /* q_push took its own reference */
    return 0;
}

static int
tq_traverse(TimerQueue *q, visitproc visit, void *arg)
{
    for (Py_ssize_t i = 0; i < q->n; i++) {
        Py_VISIT(q->h[i].item);
    }
    for (int k = 0; k < q->nlanes; k++) {
        lane *l = &q->lanes[k];
        for (Py_ssize_t i = 0; i < l->count; i++) {
            Py_VISIT(LANE_AT(l, i).item);
        }
    }
    return 0;
}

static int
tq_clear(TimerQueue *q)
{
    Py_ssize_t n = q->n;
    q->n = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_CLEAR(q->h[i].item);
    }
    for (int k = 0; k < q->nlanes; k++) {
        lane *l = &q->lanes[k];
        Py_ssize_t count = l->count;
        l->count = 0;
        for (Py_ssize_t i = 0; i < count; i++) {
            Py_CLEAR(LANE_AT(l, i).item);
        }
    }
    return 0;
}

static void
tq_dealloc(TimerQueue *q)
{
    PyObject_GC_UnTrack(q);
    tq_clear(q);
    PyMem_Free(q->h);
    for (int k = 0; k < q->nlanes; k++) {
        PyMem_Free(q->lanes[k].ring);
    }
    Py_TYPE(q)->tp_free((PyObject *)q);
}

static Py_ssize_t
tq_entries(TimerQueue *q)
{
    Py_ssize_t n = q->n;
    for (int k = 0; k < q->nlanes; k++) {
        n += q->lanes[k].count;
    }
    return n;
}

static Py_ssize_t
tq_len(TimerQueue *q) /* what is still to fire: LiveClock's cancelled entries not counted */
{
    return tq_entries(q) - q->stale;
}

static int
arg_i64(PyObject *o, const char *what, int64_t *out)
{
    if (as_i64(o, out)) {
        return 0;
    }
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, got %s", what, Py_TYPE(o)->tp_name);
    }
    else {
        PyErr_Format(PyExc_OverflowError, "%s does not fit in 64 bits", what);
    }
    return -1;
}

/* push(due, seq, item, gen) */
static PyObject *
tq_push(TimerQueue *q, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t due, seq, gen;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "push(due, seq, item, gen) takes 4 arguments");
        return NULL;
    }
    if (arg_i64(args[0], "due", &due) < 0 || arg_i64(args[1], "seq", &seq) < 0 ||
        arg_i64(args[3], "gen", &gen) < 0 || q_push(q, due, seq, gen, args[2]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Is the top entry still to fire? 1 yes, 0 stale (a cancelled call, a cancelled or replaced timer), -1 error.
 * ``timers`` NULL: the firing loop's check (gen only: a finished timer leaves no entry). */
static int
q_top_live(const qent *top, PyObject *timers)
{
    PyObject *item = top->item;
    if (Py_TYPE(item) == CallType) {
        PyObject *cancelled = SLOT(item, call_cancelled_off);
        int is = cancelled == NULL ? 0 : PyObject_IsTrue(cancelled);
        return is < 0 ? -1 : !is;
    }
    if (Py_TYPE(item) != TimerType) {
        PyErr_Format(PyExc_TypeError, "unexpected item in a TestClock queue: %s", Py_TYPE(item)->tp_name);
        return -1;
    }
    PyObject *g = get_slot(item, timer_off[T_GEN], "gen");
    int64_t gen;
    if (g == NULL) {
        return -1;
    }
    if (!as_i64(g, &gen) || gen != top->gen) {
        return 0;
    }
    if (timers == NULL) {
        return 1;
    }
    PyObject *name = get_slot(item, timer_off[T_NAME], "name");
    if (name == NULL) {
        return -1;
    }
    PyObject *cur = PyDict_GetItemWithError(timers, name);
    if (cur == NULL && PyErr_Occurred()) {
        return -1;
    }
    return cur == item;
}

/* The earliest due time still to fire, or None; drops stale entries on the way (``timers``: the
   clock's dict of live timers, or NULL where the entry's own generation says whether it is live). */
static PyObject *
q_next_live_due(TimerQueue *q, PyObject *timers)
{
    qent *top;
    int src;
    while ((src = q_top(q, &top)) >= 0) {
        int live = q_top_live(top, timers);
        if (live < 0) {
            return NULL;
        }
        if (live) {
            return PyLong_FromLongLong(top->due);
        }
        q_drop_src(q, src);
    }
    Py_RETURN_NONE;
}

/* next_due(timers) -> the earliest due time still to fire, or None; drops stale entries on the way. */
static PyObject *
tq_next_due(TimerQueue *q, PyObject *timers)
{
    if (!PyDict_CheckExact(timers)) {
        PyErr_SetString(PyExc_TypeError, "next_due(timers): timers must be a dict");
        return NULL;
    }
    return q_next_live_due(q, timers);
}

static int
store_i64(PyObject *dict, PyObject *key, int64_t v)
{
    PyObject *o = PyLong_FromLongLong(v);
    if (o == NULL) {
        return -1;
    }
    int rc = PyDict_SetItem(dict, key, o);
    Py_DECREF(o);
    return rc;
}

/* The loop itself; returns 0, or -1 with an exception set. *eid is the event counter. */
static int
tq_fire(TimerQueue *q, PyObject *cdict, int64_t to_ns, PyObject *timers, PyObject *fired, int64_t *eid)
{
    PyObject *due_obj = NULL; /* the current instant as an int: clock._time and the events' ts_init */
    int64_t due_of_obj = 0;
    int rc = 0;
    qent *top;
    int src;
    while ((src = q_top(q, &top)) >= 0 && top->due <= to_ns) {
        int64_t due = top->due;
        int live = q_top_live(top, NULL);
        if (live <= 0) {
            q_drop_src(q, src);
            if (live < 0) {
                rc = -1;
                break;
            }
            continue;
        }
        PyObject *item = top->item;
        PyObject *next_ns = NULL;
        if (Py_TYPE(item) == TimerType) {
            next_ns = get_slot(item, timer_off[T_NEXT], "next_ns");
            if (next_ns == NULL) {
                rc = -1;
                break;
            }
        }
        if (due_obj == NULL || due != due_of_obj) {
            int64_t v;
            Py_XDECREF(due_obj);
            /* A timer's next_ns is its due time: share that int rather than make another. */
            due_obj = (next_ns != NULL && as_i64(next_ns, &v) && v == due) ? Py_NewRef(next_ns)
                                                                          : PyLong_FromLongLong(due);
            due_of_obj = due;
            if (due_obj == NULL || PyDict_SetItem(cdict, str_time, due_obj) < 0) {
                rc = -1;
                break;
            }
        }
        if (next_ns == NULL) { /* a Call: a sleeper's wake-up or a timeout scope */
            item = q_pop_src(q, src);
            PyObject *fn = get_slot(item, call_fn_off, "fn");
            PyObject *r = fn ? PyObject_CallNoArgs(fn) : NULL;
            Py_DECREF(item);
            if (r == NULL) {
                rc = -1;
                break;
            }
            Py_DECREF(r);
            continue;
        }
        PyObject *name = get_slot(item, timer_off[T_NAME], "name");
        PyObject *interval_obj = get_slot(item, timer_off[T_INTERVAL], "interval_ns");
        PyObject *stop = get_slot(item, timer_off[T_STOP], "stop_ns");
        PyObject *callback = get_slot(item, timer_off[T_CALLBACK], "callback");
        if (!name || !interval_obj || !stop || !callback) {
            rc = -1;
            break;
        }
        int64_t interval;
        if (arg_i64(interval_obj, "interval_ns", &interval) < 0) {
            rc = -1;
            break;
        }
        PyObject *eid_obj = PyLong_FromLongLong(++*eid);
        PyObject *event = eid_obj ? new_event(name, eid_obj, next_ns, due_obj) : NULL;
        Py_XDECREF(eid_obj);
        if (event == NULL) {
            rc = -1;
            break;
        }
        Py_INCREF(callback); /* the callback may cancel or replace its own timer */
        int again = 0;
        if (interval > 0) {
            int64_t stop_ns;
            if (due > INT64_MAX - interval) {
                again = 0; /* beyond int64 nanoseconds (year 2262): the timer ends */
            }
            else if (stop == Py_None) {
                again = 1;
            }
            else if (as_i64(stop, &stop_ns)) {
                again = due + interval <= stop_ns;
            }
            else {
                again = -1;
                PyErr_SetString(PyExc_OverflowError, "stop_ns does not fit in 64 bits");
            }
        }
        PyObject *nxt = again > 0 ? PyLong_FromLongLong(due + interval) : NULL;
        if (again < 0 || (again > 0 && nxt == NULL)) {
            Py_DECREF(event);
            Py_DECREF(callback);
            rc = -1;
            break;
        }
        PyObject *retired = NULL;
        if (again) {
            set_slot(item, timer_off[T_NEXT], nxt);
            Py_DECREF(nxt);
            if (q_rearm_src(q, src, interval) < 0) { /* same seq and gen, one interval later */
                Py_DECREF(event);
                Py_DECREF(callback);
                rc = -1;
                break;
            }
        }
        else {
            retired = q_pop_src(q, src);
            if (PyDict_DelItem(timers, name) < 0) {
                Py_DECREF(retired);
                Py_DECREF(event);
                Py_DECREF(callback);
                rc = -1;
                break;
            }
        }
        PyObject *r = PyObject_CallOneArg(callback, event);
        Py_DECREF(callback);
        Py_XDECREF(retired);
        if (r == NULL) {
            Py_DECREF(event); /* what the queue still holds stays queued: the clock stays consistent */
            rc = -1;
            break;
        }
        Py_DECREF(r);
        int arc = PyList_Append(fired, event);
        Py_DECREF(event);
        if (arc < 0) {
            rc = -1;
            break;
        }
    }
    Py_XDECREF(due_obj);
    return rc;
}

/* advance(clock, to_time_ns, timers) -> list of events: TestClock.advance_time (virtual.py keeps
 * the pure-Python twin and checks the argument's type; the messages here are the same). */
static PyObject *
tq_advance(TimerQueue *q, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "advance(clock, to_time_ns, timers) takes 3 arguments");
        return NULL;
    }
    if (TimerType == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_cclock.bind() was not called");
        return NULL;
    }
    PyObject *clock = args[0], *to = args[1], *timers = args[2];
    int64_t to_ns, now_ns, eid;
    if (!PyDict_CheckExact(timers)) {
        PyErr_SetString(PyExc_TypeError, "advance(): timers must be a dict");
        return NULL;
    }
    if (arg_i64(to, "to_time_ns", &to_ns) < 0) {
        return NULL;
    }
    PyObject *cdict = PyObject_GenericGetDict(clock, NULL);
    if (cdict == NULL) {
        return NULL;
    }
    PyObject *now = PyDict_GetItemWithError(cdict, str_time);
    PyObject *eid_obj = now ? PyDict_GetItemWithError(cdict, str_event_id) : NULL;
    if (eid_obj == NULL || !as_i64(now, &now_ns) || !as_i64(eid_obj, &eid)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "advance(): clock._time and clock._event_id must be int64 ints");
        }
        Py_DECREF(cdict);
        return NULL;
    }
    if (to_ns < now_ns) {
        PyErr_Format(PyExc_ValueError, "time cannot move backwards: now %lld, asked for %lld", (long long)now_ns,
                     (long long)to_ns);
        Py_DECREF(cdict);
        return NULL;
    }
    if (q->advancing) {
        PyErr_SetString(PyExc_RuntimeError, "advance_time() called from inside a timer callback");
        Py_DECREF(cdict);
        return NULL;
    }
    PyObject *fired = PyList_New(0);
    if (fired == NULL) {
        Py_DECREF(cdict);
        return NULL;
    }
    int rc = 0;
    qent *top;
    if (q_top(q, &top) >= 0 && top->due <= to_ns) {
        int64_t eid0 = eid;
        /* As in the pure loop: the cyclic collector is paused for the advance (the events are
         * untracked, see new_event; cycles a callback makes are collected after it). */
        int collecting = PyGC_Disable();
        q->advancing = 1;
        rc = tq_fire(q, cdict, to_ns, timers, fired, &eid);
        q->advancing = 0;
        if (collecting) {
            PyGC_Enable();
        }
        if (eid != eid0) {
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            int src = store_i64(cdict, str_event_id, eid);
            if (rc == 0 && src < 0) {
                rc = -1;
                Py_XDECREF(et);
                Py_XDECREF(ev);
                Py_XDECREF(tb);
            }
            else {
                if (src < 0) {
                    PyErr_Clear();
                }
                PyErr_Restore(et, ev, tb);
            }
        }
    }
    if (rc == 0) {
        rc = PyDict_SetItem(cdict, str_time, to);
    }
    Py_DECREF(cdict);
    if (rc < 0) {
        Py_DECREF(fired);
        return NULL;
    }
    return fired;
}

/* ---------------------------------------------------------------- LiveClock's coarse timers */
/* With the C accelerator, LiveClock keeps its coarse timers in a TimerQueue too (the pure twin keeps
 * them in wheel.py's TimingWheel). Staggered heartbeats of one interval leave the queue in (due,
 * seq) order and come back one interval later in the same order, so after its first firing every
 * heartbeat lives in its interval's lane: a firing is a pop at the ring's head and an append at its
 * tail, with no dict, hash or heap work, where the wheel did four dict updates per beat on dicts of
 * every coarse timer (~1.25 of 1.6 us per beat at 10,000 timers, cold caches). A cancel bumps the
 * timer's gen (base.py) and calls discard(): the entry is skipped when it comes up, and when such
 * entries outnumber the live ones the queue is compacted, so idle timeouts re-armed on every
 * message cost amortized O(1) and the queue's size stays within twice what is armed. */

static int
q_entry_live(const qent *e)
{
    if (Py_TYPE(e->item) != TimerType) {
        return 1; /* not LiveClock's: kept */
    }
    PyObject *g = SLOT(e->item, timer_off[T_GEN]);
    int64_t gen;
    return g != NULL && as_i64(g, &gen) && gen == e->gen;
}

static void
q_sift_down(qent *h, Py_ssize_t n, Py_ssize_t pos)
{
    qent e = h[pos];
    for (;;) {
        Py_ssize_t child = 2 * pos + 1;
        if (child >= n) {
            break;
        }
        if (child + 1 < n && qlt(&h[child + 1], &h[child])) {
            child++;
        }
        if (!qlt(&h[child], &e)) {
            break;
        }
        h[pos] = h[child];
        pos = child;
    }
    h[pos] = e;
}

/* Drop every stale entry (order kept in the lanes, the heap rebuilt). */
static void
q_compact(TimerQueue *q)
{
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < q->n; i++) {
        if (q_entry_live(&q->h[i])) {
            q->h[kept++] = q->h[i];
        }
        else {
            Py_DECREF(q->h[i].item);
        }
    }
    q->n = kept;
    for (Py_ssize_t i = kept / 2 - 1; i >= 0; i--) {
        q_sift_down(q->h, kept, i);
    }
    for (int k = 0; k < q->nlanes; k++) {
        lane *l = &q->lanes[k];
        Py_ssize_t lkept = 0;
        for (Py_ssize_t i = 0; i < l->count; i++) {
            qent e = LANE_AT(l, i);
            if (q_entry_live(&e)) {
                LANE_AT(l, lkept) = e; /* lkept <= i: never overwrites an entry still to read */
                lkept++;
            }
            else {
                Py_DECREF(e.item);
            }
        }
        l->count = lkept;
    }
    q->stale = 0;
}

/* discard(): a queued timer was cancelled (its gen bumped); compacts when the stale outnumber the live. */
static PyObject *
tq_discard(TimerQueue *q, PyObject *Py_UNUSED(ignored))
{
    q->stale++;
    if (q->stale > 64 && q->stale > tq_entries(q) / 2) {
        q_compact(q);
    }
    Py_RETURN_NONE;
}

/* Report a callback's exception through clock._report(timer, exc), as the pure loop does; 0 or -1. */
static int
report_callback_error(PyObject *clock, PyObject *timer)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    PyErr_NormalizeException(&et, &ev, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(ev, tb);
    }
    PyObject *rr = PyObject_CallMethodObjArgs(clock, str_report, timer, ev, NULL);
    Py_XDECREF(et);
    Py_XDECREF(ev);
    Py_XDECREF(tb);
    if (rr == NULL) {
        return -1;
    }
    Py_DECREF(rr);
    return 0;
}

/* One firing of the live top entry (a Timer): event, re-arm or retire, callback. 0 or -1. */
static int
fire_live_top(TimerQueue *q, int src, PyObject *clock, PyObject *timers, int64_t *eid, PyObject **spare)
{
    qent *top = src == 0 ? &q->h[0] : &q->lanes[src - 1].ring[q->lanes[src - 1].head];
    PyObject *timer = top->item;
    int64_t mono_due = top->due;
    PyObject *name = get_slot(timer, timer_off[T_NAME], "name");
    PyObject *next_ns = get_slot(timer, timer_off[T_NEXT], "next_ns");
    PyObject *interval_obj = get_slot(timer, timer_off[T_INTERVAL], "interval_ns");
    PyObject *stop = get_slot(timer, timer_off[T_STOP], "stop_ns");
    PyObject *callback = get_slot(timer, timer_off[T_CALLBACK], "callback");
    int64_t interval, next, stop_ns;
    if (!name || !next_ns || !interval_obj || !stop || !callback || arg_i64(interval_obj, "interval_ns", &interval) < 0 ||
        arg_i64(next_ns, "next_ns", &next) < 0) {
        return -1;
    }
    int again = 0; /* the next firing: start + k * interval on the clock, one interval later on the queue */
    if (interval > 0 && next <= INT64_MAX - interval && mono_due <= INT64_MAX - interval) {
        if (stop == Py_None) {
            again = 1;
        }
        else if (as_i64(stop, &stop_ns)) {
            again = next + interval <= stop_ns;
        }
        else {
            PyErr_SetString(PyExc_OverflowError, "stop_ns does not fit in 64 bits");
            return -1;
        }
    }
    int64_t t = read_ns();
    if (t == -1 && PyErr_Occurred()) {
        return -1;
    }
    PyObject *freed; /* an int of the spare event's, free to carry the timer's next next_ns */
    PyObject *event = live_event(spare, name, *eid + 1, next_ns, t, &freed);
    if (event == NULL) {
        return -1;
    }
    ++*eid;
    Py_INCREF(timer);    /* the queue's reference may go (retired) or the callback may cancel it */
    Py_INCREF(callback); /* the callback may cancel or replace its own timer */
    int rc = 0;
    if (again) {
        /* the next next_ns in the freed int, due in its own int, when nothing else holds them */
        PyObject *nxt = long_recycle(freed, next + interval);
        freed = NULL;
        PyObject *due_obj = SLOT(timer, timer_off[T_DUE]);
        int due_in_place = long_reusable(due_obj, mono_due + interval);
        PyObject *ndue = (nxt == NULL || due_in_place) ? NULL : PyLong_FromLongLong(mono_due + interval);
        if (nxt == NULL || (!due_in_place && ndue == NULL) || q_rearm_src(q, src, interval) < 0) {
            rc = -1; /* same seq and gen, one interval later */
        }
        else {
            set_slot(timer, timer_off[T_NEXT], nxt);
            if (due_in_place) {
                long_write(due_obj, mono_due + interval);
            }
            else {
                set_slot(timer, timer_off[T_DUE], ndue);
            }
        }
        Py_XDECREF(nxt);
        Py_XDECREF(ndue);
    }
    else {
        Py_XDECREF(freed);
        Py_DECREF(q_pop_src(q, src));
        rc = PyDict_DelItem(timers, name); /* finished: off the clock before its callback, as _fire does */
    }
    if (rc == 0) {
        PyObject *r = PyObject_CallOneArg(callback, event);
        if (r != NULL) {
            Py_DECREF(r);
        }
        else if (PyErr_ExceptionMatches(PyExc_Exception)) {
            rc = report_callback_error(clock, timer); /* one failing callback must not stop the others */
        }
        else {
            rc = -1; /* KeyboardInterrupt and the like go through; the queue is already consistent */
        }
    }
    Py_DECREF(callback);
    Py_DECREF(timer);
    event_done(spare, event);
    return rc;
}

/* fire_live(clock, now_ns) -> the next due (monotonic) or None: LiveClock's coarse timers due by now_ns,
 * in (due, set order), each delivered with ts_init the clock's time; a backlog (a firing re-armed at
 * or before now_ns, after a stall) is delivered in the same call. live.py keeps the pure twin
 * (_fire_coarse over the TimingWheel). */
static PyObject *
tq_fire_live(TimerQueue *q, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "fire_live(clock, now_ns) takes 2 arguments");
        return NULL;
    }
    if (TimerType == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_cclock.bind() was not called");
        return NULL;
    }
    PyObject *clock = args[0];
    int64_t now_ns, eid;
    if (arg_i64(args[1], "now_ns", &now_ns) < 0) {
        return NULL;
    }
    PyObject *cdict = PyObject_GenericGetDict(clock, NULL);
    if (cdict == NULL) {
        return NULL;
    }
    PyObject *timers = PyDict_GetItemWithError(cdict, str_timers);
    PyObject *eid_obj = timers ? PyDict_GetItemWithError(cdict, str_event_id) : NULL;
    if (eid_obj == NULL || !PyDict_CheckExact(timers) || !as_i64(eid_obj, &eid)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "fire_live(): clock._timers must be a dict, clock._event_id an int64");
        }
        Py_DECREF(cdict);
        return NULL;
    }
    Py_INCREF(timers);
    int64_t eid0 = eid;
    int rc = 0;
    qent *top;
    int src;
    PyObject *spare = NULL; /* an event no callback kept, refilled for the next beat (live_event) */
    while ((src = q_top(q, &top)) >= 0 && top->due <= now_ns) {
        int live = q_top_live(top, NULL);
        if (live <= 0) {
            q_drop_src(q, src);
            if (live < 0) {
                rc = -1;
                break;
            }
            continue;
        }
        if (fire_live_top(q, src, clock, timers, &eid, &spare) < 0) {
            rc = -1;
            break;
        }
    }
    Py_XDECREF(spare);
    Py_DECREF(timers);
    if (eid != eid0) { /* the event counter is written back once, even when an error ends the batch */
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        if (store_i64(cdict, str_event_id, eid) < 0) {
            if (rc < 0) {
                PyErr_Clear();
            }
            else {
                Py_XDECREF(et);
                Py_XDECREF(ev);
                Py_XDECREF(tb);
                et = ev = tb = NULL;
                rc = -1;
            }
        }
        if (et != NULL || ev != NULL || tb != NULL) {
            PyErr_Restore(et, ev, tb);
        }
    }
    Py_DECREF(cdict);
    if (rc < 0) {
        return NULL;
    }
    return q_next_live_due(q, NULL);
}

static PyMethodDef tq_methods[] = {
    {"push", (PyCFunction)(void (*)(void))tq_push, METH_FASTCALL, "push(due, seq, item, gen): queue one firing."},
    {"next_due", (PyCFunction)tq_next_due, METH_O,
     "next_due(timers): the earliest due time still to fire, or None (stale entries are dropped)."},
    {"fire_live", (PyCFunction)(void (*)(void))tq_fire_live, METH_FASTCALL,
     "fire_live(clock, now_ns): LiveClock's coarse timers due by now_ns; returns the next due or None."},
    {"discard", (PyCFunction)tq_discard, METH_NOARGS,
     "discard(): a queued timer was cancelled (LiveClock): its entry is skipped, the queue compacted in time."},
    {"advance", (PyCFunction)(void (*)(void))tq_advance, METH_FASTCALL,
     "advance(clock, to_time_ns, timers): fire what falls due up to to_time_ns; returns the events."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods tq_as_sequence = {.sq_length = (lenfunc)tq_len};

static PyTypeObject TimerQueueType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "targets.clock._cclock.TimerQueue",
    .tp_doc = "TestClock's pending firings: a heap of (due, seq) int64 keys (see _cclock.c).",
    .tp_basicsize = sizeof(TimerQueue),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)tq_dealloc,
    .tp_traverse = (traverseproc)tq_traverse,
    .tp_clear = (inquiry)tq_clear,
    .tp_methods = tq_methods,
    .tp_as_sequence = &tq_as_sequence,
};

/* ---------------------------------------------------------------- the wheel's wake-up (Linux) */
#ifdef __linux__
/* wake_fd_new() -> fd: a non-blocking timerfd on CLOCK_MONOTONIC (the clock of time.monotonic_ns). */
static PyObject *
c_wake_fd_new(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(fd);
}

/* wake_fd_arm(fd, at_ns): readable at monotonic at_ns (at once if past); at_ns None: disarmed.
 * Setting the timer resets its expiration count, so a look that re-arms it also makes it
 * unreadable again: no read() per wake-up. */
static PyObject *
c_wake_fd_arm(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "wake_fd_arm(fd, at_ns) takes 2 arguments");
        return NULL;
    }
    long fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    struct itimerspec spec = {{0, 0}, {0, 0}};
    if (args[1] != Py_None) {
        int64_t at;
        if (arg_i64(args[1], "at_ns", &at) < 0) {
            return NULL;
        }
        if (at < 1) {
            at = 1; /* an all-zero value would disarm: the past is "at once" */
        }
        spec.it_value.tv_sec = (time_t)(at / 1000000000);
        spec.it_value.tv_nsec = (long)(at % 1000000000);
    }
    if (timerfd_settime((int)fd, args[1] == Py_None ? 0 : TFD_TIMER_ABSTIME, &spec, NULL) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}
#endif

/* ---------------------------------------------------------------- module */
/* setup.py passes the hash of this file (targets/clock/_source_hash.py); _impl.py refuses a module whose
 * SOURCE_HASH is not the source's, i.e. a stale build left in place. A build without it says so. */
#ifndef CCLOCK_SOURCE_HASH
#define CCLOCK_SOURCE_HASH "unknown: built without setup.py"
#endif

static PyMethodDef methods[] = {
    {"timestamp_ns", c_timestamp_ns, METH_NOARGS, "Wall-clock nanoseconds that never decrease within this process."},
    {"utc_now", c_utc_now, METH_NOARGS, "timestamp_ns() as an aware UTC datetime (truncated to the microsecond)."},
    {"set_wall_source", c_set_wall_source, METH_VARARGS,
     "set_wall_source(fn, reset=False): tests only; fn() -> int ns replaces the system wall clock (None restores it); "
     "reset forgets the last value returned."},
    {"bind", c_bind, METH_VARARGS, "bind(Timer, Call, LiveCall, TimeEvent): both clocks pass events.Call as the call types: learn the slot layouts."},
#ifdef __linux__
    {"wake_fd_new", c_wake_fd_new, METH_NOARGS, "wake_fd_new() -> fd: a non-blocking timerfd on CLOCK_MONOTONIC."},
    {"wake_fd_arm", (PyCFunction)(void (*)(void))c_wake_fd_arm, METH_FASTCALL,
     "wake_fd_arm(fd, at_ns): the fd becomes readable at monotonic at_ns (at once if past); None disarms it."},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cclock", "The Clock's hot paths in C (see targets/clock/_impl.py).", -1, methods,
};

PyMODINIT_FUNC
PyInit__cclock(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) {
        return NULL;
    }
    str_time = PyUnicode_InternFromString("_time");
    str_event_id = PyUnicode_InternFromString("_event_id");
    str_report = PyUnicode_InternFromString("_report");
    str_timers = PyUnicode_InternFromString("_timers");
    if (!str_time || !str_event_id || !str_report || !str_timers) {
        return NULL;
    }
    if (PyType_Ready(&TimerQueueType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL || PyModule_AddObjectRef(m, "TimerQueue", (PyObject *)&TimerQueueType) < 0 ||
        PyModule_AddStringConstant(m, "SOURCE_HASH", CCLOCK_SOURCE_HASH) < 0) {
        Py_XDECREF(m);
        return NULL;
    }
    return m;
}
