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
 * - fire_coarse(): LiveClock's coarse-timer delivery: take what is due from the timing wheel and
 *   fire it, re-arming each timer in the wheel.
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
static PyObject *str_time, *str_event_id, *str_slots, *str_where, *str_current_tick;

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
tq_len(TimerQueue *q)
{
    Py_ssize_t n = q->n;
    for (int k = 0; k < q->nlanes; k++) {
        n += q->lanes[k].count;
    }
    return n;
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

/* next_due(timers) -> the earliest due time still to fire, or None; drops stale entries on the way. */
static PyObject *
tq_next_due(TimerQueue *q, PyObject *timers)
{
    if (!PyDict_CheckExact(timers)) {
        PyErr_SetString(PyExc_TypeError, "next_due(timers): timers must be a dict");
        return NULL;
    }
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
        Py_DECREF(q_pop_src(q, src));
    }
    Py_RETURN_NONE;
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
            Py_DECREF(q_pop_src(q, src));
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

static PyMethodDef tq_methods[] = {
    {"push", (PyCFunction)(void (*)(void))tq_push, METH_FASTCALL, "push(due, seq, item, gen): queue one firing."},
    {"next_due", (PyCFunction)tq_next_due, METH_O,
     "next_due(timers): the earliest due time still to fire, or None (stale entries are dropped)."},
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

/* ---------------------------------------------------------------- LiveClock coarse timers */
typedef struct {
    int64_t deadline;
    Py_ssize_t order;
    int64_t gen;    /* the Timer's gen when it left the wheel: a cancel during the batch bumps it */
    PyObject *item; /* borrowed while in its bucket, then owned (see expire_due) */
} due_entry;

static int
due_cmp(const void *a, const void *b)
{
    const due_entry *x = a, *y = b;
    if (x->deadline != y->deadline) {
        return x->deadline < y->deadline ? -1 : 1;
    }
    return x->order < y->order ? -1 : (x->order > y->order);
}

static PyObject *str_tick_ns, *str_expired_to_ns, *str_report, *str_timers, *int_one;
#define SLOT_INTS 4096
static PyObject *slot_ints[SLOT_INTS]; /* the wheel's slot numbers, made once */
/* The slot -1 in the wheel's ``_where``: taken out of its bucket by this loop and not re-armed yet
 * ("in flight"). Marking the entry in place, rather than deleting it and inserting it again at the
 * re-arm, costs one lookup in a dict of every coarse timer instead of two, and leaves no dummy
 * entries to compact (wheel.py's remove() knows the mark). */
static PyObject *in_flight;

static inline int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static inline int64_t
ceil_div(int64_t a, int64_t b)
{
    return -floor_div(-a, b);
}

typedef struct {
    PyObject *wdict;   /* the wheel's instance dict (new ref) */
    PyObject *slots;   /* list of dicts item -> deadline (borrowed from wdict) */
    PyObject *where;   /* dict item -> slot index (borrowed) */
    int64_t tick_ns, current_tick, expired_to_ns;
    Py_ssize_t nslots;
} wheel_view;

static int
wheel_open(PyObject *wheel, wheel_view *w)
{
    w->wdict = PyObject_GenericGetDict(wheel, NULL);
    if (w->wdict == NULL) {
        return -1;
    }
    w->slots = PyDict_GetItemWithError(w->wdict, str_slots);
    w->where = PyDict_GetItemWithError(w->wdict, str_where);
    PyObject *tick = PyDict_GetItemWithError(w->wdict, str_tick_ns);
    PyObject *cur = PyDict_GetItemWithError(w->wdict, str_current_tick);
    PyObject *exp = PyDict_GetItemWithError(w->wdict, str_expired_to_ns);
    if (!w->slots || !w->where || !tick || !cur || !exp || !PyList_CheckExact(w->slots) ||
        !PyDict_CheckExact(w->where) || !as_i64(tick, &w->tick_ns) || !as_i64(cur, &w->current_tick) ||
        !as_i64(exp, &w->expired_to_ns) || w->tick_ns <= 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "fire_coarse(): not a TimingWheel with int64 state");
        }
        Py_DECREF(w->wdict);
        return -1;
    }
    w->nslots = PyList_GET_SIZE(w->slots);
    return 0;
}

static int
wheel_store_i64(wheel_view *w, PyObject *key, int64_t v)
{
    PyObject *o = PyLong_FromLongLong(v);
    if (o == NULL) {
        return -1;
    }
    int rc = PyDict_SetItem(w->wdict, key, o);
    Py_DECREF(o);
    return rc;
}

/* TimingWheel.add_new: returns 1 if already due (a backlog), 0 if not, -1 on error. */
static int
wheel_add_new(wheel_view *w, PyObject *item, PyObject *deadline_obj)
{
    int64_t deadline;
    if (!as_i64(deadline_obj, &deadline)) {
        PyErr_SetString(PyExc_OverflowError, "a coarse timer's deadline does not fit in 64 bits");
        return -1;
    }
    int64_t tick = ceil_div(deadline, w->tick_ns);
    if (tick <= w->current_tick) {
        tick = w->current_tick + 1;
    }
    Py_ssize_t slot = (Py_ssize_t)(((tick % w->nslots) + w->nslots) % w->nslots);
    PyObject *slot_obj = slot < SLOT_INTS ? Py_NewRef(slot_ints[slot]) : PyLong_FromSsize_t(slot);
    if (slot_obj == NULL) {
        return -1;
    }
    int rc = PyDict_SetItem(PyList_GET_ITEM(w->slots, slot), item, deadline_obj);
    if (rc == 0) {
        rc = PyDict_SetItem(w->where, item, slot_obj);
    }
    Py_DECREF(slot_obj);
    if (rc < 0) {
        return -1;
    }
    return deadline <= w->expired_to_ns;
}

/* Take a re-armed item out of its bucket again, marked in flight (a backlog firing once more). */
static int
wheel_take(wheel_view *w, PyObject *item)
{
    PyObject *slot_obj = PyDict_GetItemWithError(w->where, item);
    if (slot_obj == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    Py_ssize_t slot = PyLong_AsSsize_t(slot_obj);
    if (slot == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (slot < 0) {
        return 0; /* already in flight */
    }
    if (PyDict_DelItem(PyList_GET_ITEM(w->slots, slot), item) < 0 || PyDict_SetItem(w->where, item, in_flight) < 0) {
        return -1;
    }
    return 1;
}

/* TimingWheel.expire_due: fills *out (malloc'ed, owned references) in deadline then insertion order. */
static Py_ssize_t
wheel_expire_due(wheel_view *w, int64_t now_ns, due_entry **out)
{
    *out = NULL;
    int64_t first = w->current_tick + 1;
    int64_t last = ceil_div(now_ns, w->tick_ns);
    if (last > first + w->nslots - 1) {
        last = first + w->nslots - 1;
    }
    int64_t done_tick = floor_div(now_ns, w->tick_ns);
    if (done_tick > w->current_tick) {
        w->current_tick = done_tick;
        if (wheel_store_i64(w, str_current_tick, done_tick) < 0) {
            return -1;
        }
    }
    if (now_ns > w->expired_to_ns) {
        w->expired_to_ns = now_ns;
        if (wheel_store_i64(w, str_expired_to_ns, now_ns) < 0) {
            return -1;
        }
    }
    Py_ssize_t count = 0, cap = 0;
    due_entry *due = NULL;
    for (int64_t tick = first; tick <= last; tick++) {
        PyObject *bucket = PyList_GET_ITEM(w->slots, (Py_ssize_t)(((tick % w->nslots) + w->nslots) % w->nslots));
        if (PyDict_GET_SIZE(bucket) == 0) {
            continue;
        }
        Py_ssize_t pos = 0, start = count;
        PyObject *item, *deadline_obj;
        while (PyDict_Next(bucket, &pos, &item, &deadline_obj)) {
            int64_t deadline;
            if (!as_i64(deadline_obj, &deadline)) {
                PyErr_SetString(PyExc_OverflowError, "a coarse timer's deadline does not fit in 64 bits");
                goto error;
            }
            if (deadline > now_ns) {
                continue;
            }
            if (count == cap) {
                cap = cap ? cap * 2 : 64;
                due_entry *grown = PyMem_Realloc(due, cap * sizeof(due_entry));
                if (grown == NULL) {
                    PyErr_NoMemory();
                    goto error;
                }
                due = grown;
            }
            due[count].deadline = deadline;
            due[count].order = count;
            due[count].gen = -1; /* not a Timer: the firing loop refuses it */
            if (Py_TYPE(item) == TimerType) {
                PyObject *g = SLOT(item, timer_off[T_GEN]);
                if (g == NULL || !as_i64(g, &due[count].gen)) {
                    PyErr_SetString(PyExc_TypeError, "a coarse timer's gen is not an int64");
                    goto error;
                }
            }
            due[count].item = Py_NewRef(item);
            count++;
        }
        for (Py_ssize_t k = start; k < count; k++) {
            if (PyDict_DelItem(bucket, due[k].item) < 0 || PyDict_SetItem(w->where, due[k].item, in_flight) < 0) {
                goto error;
            }
        }
    }
    int sorted = 1; /* re-armed heartbeats come back in deadline order: usually nothing to sort */
    for (Py_ssize_t k = 1; k < count && sorted; k++) {
        sorted = due[k - 1].deadline <= due[k].deadline;
    }
    if (!sorted) {
        qsort(due, (size_t)count, sizeof(due_entry), due_cmp);
    }
    *out = due;
    return count;
error:
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_DECREF(due[k].item);
    }
    PyMem_Free(due);
    return -1;
}

/* TimingWheel.next_due(horizon_ns): the earliest deadline of the first occupied bucket after the
 * current tick, capped at that bucket's end; None when the wheel is empty. The scan stops at the
 * first deadline at or before horizon_ns (INT64_MIN: no horizon): the caller waits that long
 * anyway, and a look at 10,000 beats a second read every deadline of a bucket (~100 cold ints). */
static PyObject *
wheel_next_due(wheel_view *w, int64_t horizon_ns)
{
    if (PyDict_GET_SIZE(w->where) == 0) {
        Py_RETURN_NONE;
    }
    for (int64_t tick = w->current_tick + 1; tick <= w->current_tick + w->nslots; tick++) {
        PyObject *bucket = PyList_GET_ITEM(w->slots, (Py_ssize_t)(((tick % w->nslots) + w->nslots) % w->nslots));
        if (PyDict_GET_SIZE(bucket) == 0) {
            continue;
        }
        int64_t best = tick * w->tick_ns;
        Py_ssize_t pos = 0;
        PyObject *item, *deadline_obj;
        while (PyDict_Next(bucket, &pos, &item, &deadline_obj)) {
            int64_t deadline;
            if (!as_i64(deadline_obj, &deadline)) {
                PyErr_SetString(PyExc_OverflowError, "a coarse timer's deadline does not fit in 64 bits");
                return NULL;
            }
            if (deadline < best) {
                best = deadline;
                if (best <= horizon_ns) {
                    break;
                }
            }
        }
        return PyLong_FromLongLong(best);
    }
    Py_RETURN_NONE;
}

/* fire_coarse(clock, wheel, now_ns[, horizon_ns]) -> wheel.next_due(horizon_ns): LiveClock._fire_coarse
 * in C (live.py keeps the pure twin). */
static PyObject *
c_fire_coarse(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 && nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "fire_coarse() takes 3 or 4 arguments");
        return NULL;
    }
    if (TimerType == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_cclock.bind() was not called");
        return NULL;
    }
    PyObject *clock = args[0], *wheel = args[1];
    int64_t now_ns;
    int64_t horizon_ns = INT64_MIN;
    if (!as_i64(args[2], &now_ns) || (nargs == 4 && args[3] != Py_None && !as_i64(args[3], &horizon_ns))) {
        PyErr_SetString(PyExc_TypeError, "fire_coarse(): now_ns and horizon_ns must be int64");
        return NULL;
    }
    wheel_view w;
    if (wheel_open(wheel, &w) < 0) {
        return NULL;
    }
    PyObject *cdict = PyObject_GenericGetDict(clock, NULL);
    if (cdict == NULL) {
        Py_DECREF(w.wdict);
        return NULL;
    }
    PyObject *timers = PyDict_GetItemWithError(cdict, str_timers);
    if (timers == NULL || !PyDict_CheckExact(timers)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "fire_coarse(): clock._timers is not a dict");
        }
        Py_DECREF(cdict);
        Py_DECREF(w.wdict);
        return NULL;
    }
    Py_INCREF(timers);
    /* The event counter is kept here and written back once (as TestClock's loop does). */
    PyObject *eid = PyDict_GetItemWithError(cdict, str_event_id);
    if (eid == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_AttributeError, "clock._event_id is not set");
        }
        Py_DECREF(timers);
        Py_DECREF(cdict);
        Py_DECREF(w.wdict);
        return NULL;
    }
    Py_INCREF(eid);
    due_entry *due = NULL;
    Py_ssize_t count = wheel_expire_due(&w, now_ns, &due);
    Py_ssize_t i = 0;
    int failed = count < 0;
    for (; !failed && i < count; i++) {
        PyObject *timer = due[i].item;
        if (Py_TYPE(timer) != TimerType) {
            PyErr_Format(PyExc_TypeError, "unexpected item in LiveClock's wheel: %s", Py_TYPE(timer)->tp_name);
            failed = 1;
            break;
        }
        for (;;) {
            PyObject *name = get_slot(timer, timer_off[T_NAME], "name");
            if (name == NULL) {
                failed = 1;
                break;
            }
            /* Still set? Cancelling bumps gen (base.py cancel_timer), the only way off the clock
             * but finishing, and a finished timer leaves the wheel for good: so an unchanged gen is
             * the pure loop's ``timers.get(name) is timer`` without the dict lookup (cold at 10^5). */
            PyObject *g = get_slot(timer, timer_off[T_GEN], "gen");
            int64_t gen_now;
            if (g == NULL || !as_i64(g, &gen_now)) {
                failed = 1;
                if (g != NULL) {
                    PyErr_SetString(PyExc_TypeError, "a coarse timer's gen is not an int64");
                }
                break;
            }
            if (gen_now != due[i].gen) {
                break; /* cancelled (its name may already serve another timer) */
            }
            PyObject *next_ns = get_slot(timer, timer_off[T_NEXT], "next_ns");
            PyObject *interval = get_slot(timer, timer_off[T_INTERVAL], "interval_ns");
            PyObject *stop = get_slot(timer, timer_off[T_STOP], "stop_ns");
            PyObject *callback = get_slot(timer, timer_off[T_CALLBACK], "callback");
            PyObject *tdue = get_slot(timer, timer_off[T_DUE], "due");
            if (!next_ns || !interval || !stop || !callback || !tdue) {
                failed = 1;
                break;
            }
            PyObject *neid = PyNumber_Add(eid, int_one);
            if (neid == NULL) {
                failed = 1;
                break;
            }
            Py_SETREF(eid, neid);
            int64_t t = read_ns();
            PyObject *ts_init = (t == -1 && PyErr_Occurred()) ? NULL : PyLong_FromLongLong(t);
            PyObject *event = ts_init ? new_event(name, eid, next_ns, ts_init) : NULL;
            Py_XDECREF(ts_init);
            if (event == NULL) {
                failed = 1;
                break;
            }
            Py_INCREF(callback);
            int again = 0;
            int more = PyObject_IsTrue(interval);
            PyObject *nxt = NULL;
            if (more > 0) {
                nxt = PyNumber_Add(next_ns, interval);
                if (nxt == NULL) {
                    more = -1;
                }
                else if (stop != Py_None) {
                    more = PyObject_RichCompareBool(nxt, stop, Py_LE);
                }
            }
            if (more > 0) {
                PyObject *ndue = PyNumber_Add(tdue, interval);
                if (ndue == NULL) {
                    more = -1;
                }
                else {
                    set_slot(timer, timer_off[T_NEXT], nxt);
                    set_slot(timer, timer_off[T_DUE], ndue);
                    again = wheel_add_new(&w, timer, ndue);
                    Py_DECREF(ndue);
                    if (again < 0) {
                        more = -1;
                    }
                }
            }
            else if (more == 0) { /* finished: off the clock, and its in-flight mark off the wheel */
                if (PyDict_DelItem(timers, name) < 0 || PyDict_DelItem(w.where, timer) < 0) {
                    more = -1;
                }
            }
            Py_XDECREF(nxt);
            if (more < 0) {
                Py_DECREF(callback);
                Py_DECREF(event);
                failed = 1;
                break;
            }
            PyObject *r = PyObject_CallOneArg(callback, event);
            Py_DECREF(callback);
            Py_DECREF(event);
            if (r == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_Exception)) {
                    failed = 1; /* KeyboardInterrupt and the like go through, as in the pure loop */
                    break;
                }
                /* one failing callback must not stop the others: report it as the pure loop does */
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
                    failed = 1;
                    break;
                }
                Py_DECREF(rr);
            }
            else {
                Py_DECREF(r);
            }
            if (!again) {
                break;
            }
            int present = PyDict_Contains(w.where, timer);
            if (present <= 0) {
                failed = present < 0;
                break;
            }
            if (wheel_take(&w, timer) < 0) {
                failed = 1;
                break;
            }
        }
    }
    if (failed && count > 0) { /* an error left the batch: drop the in-flight marks it leaves */
        PyObject *et0, *ev0, *tb0;
        PyErr_Fetch(&et0, &ev0, &tb0);
        for (Py_ssize_t k = 0; k < count; k++) {
            PyObject *mark = PyDict_GetItemWithError(w.where, due[k].item);
            if (mark == in_flight) {
                PyDict_DelItem(w.where, due[k].item);
            }
            PyErr_Clear();
        }
        PyErr_Restore(et0, ev0, tb0);
    }
    if (count > 0) {
        for (Py_ssize_t k = 0; k < count; k++) {
            Py_DECREF(due[k].item);
        }
    }
    PyMem_Free(due);
    Py_DECREF(timers);
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    int rc = PyDict_SetItem(cdict, str_event_id, eid);
    Py_DECREF(eid);
    Py_DECREF(cdict);
    if (failed) {
        PyErr_Restore(et, ev, tb);
    }
    else if (rc < 0) {
        failed = 1;
    }
    PyObject *result = failed ? NULL : wheel_next_due(&w, horizon_ns);
    Py_DECREF(w.wdict);
    return result;
}

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
static PyMethodDef methods[] = {
    {"timestamp_ns", c_timestamp_ns, METH_NOARGS, "Wall-clock nanoseconds that never decrease within this process."},
    {"utc_now", c_utc_now, METH_NOARGS, "timestamp_ns() as an aware UTC datetime (truncated to the microsecond)."},
    {"set_wall_source", c_set_wall_source, METH_VARARGS,
     "set_wall_source(fn, reset=False): tests only; fn() -> int ns replaces the system wall clock (None restores it); "
     "reset forgets the last value returned."},
    {"bind", c_bind, METH_VARARGS, "bind(Timer, Call, LiveCall, TimeEvent): both clocks pass events.Call as the call types: learn the slot layouts."},
    {"fire_coarse", (PyCFunction)(void (*)(void))c_fire_coarse, METH_FASTCALL,
     "fire_coarse(clock, wheel, now_ns): deliver LiveClock's coarse timers due by now_ns."},
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
    str_slots = PyUnicode_InternFromString("_slots");
    str_where = PyUnicode_InternFromString("_where");
    str_current_tick = PyUnicode_InternFromString("current_tick");
    int_one = PyLong_FromLong(1);
    in_flight = PyLong_FromLong(-1);
    if (in_flight == NULL) {
        return NULL;
    }
    for (int k = 0; k < SLOT_INTS; k++) {
        if ((slot_ints[k] = PyLong_FromLong(k)) == NULL) {
            return NULL;
        }
    }
    str_tick_ns = PyUnicode_InternFromString("tick_ns");
    str_expired_to_ns = PyUnicode_InternFromString("expired_to_ns");
    str_report = PyUnicode_InternFromString("_report");
    str_timers = PyUnicode_InternFromString("_timers");
    if (!str_time || !str_event_id || !str_slots || !str_where || !str_current_tick || !str_tick_ns ||
        !str_expired_to_ns || !str_report || !str_timers || !int_one) {
        return NULL;
    }
    if (PyType_Ready(&TimerQueueType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL || PyModule_AddObjectRef(m, "TimerQueue", (PyObject *)&TimerQueueType) < 0) {
        Py_XDECREF(m);
        return NULL;
    }
    return m;
}
