/* The compiled UDP loop: recvmmsg, the responder's memo, sendmmsg, in one call per wake-up.
 *
 * Python's socket module costs a system call per datagram each way, one more to find the
 * queue empty, and an interpreter round trip per query; this reads a batch with one recvmmsg,
 * answers questions the memo knows (`Memo.entries`, keyed on the lower-cased question, see
 * globaldns/dns/memo.py) without entering Python, hands every other packet to the Python
 * responder with what the memo holds for it (so Python does not look it up again), and sends
 * all replies with one sendmmsg. An entry is a `globaldns.dns.memo.Recent`: a fixed reply is
 * spliced around the asker's question; one whose records rotate, or that truncates, is
 * assembled from its `globaldns.dns.answer.Answer` as the responder assembles it, writing the
 * order of its records its `Turns` give for the answer's turn and advancing that turn alike (so
 * both loops rotate in one order). Their slots are read at the offsets their names have, found
 * when this module is imported (`find_classes`).
 * Packets shorter than a header or with QR set are dropped here and header-only errors
 * (FORMERR, NOTIMP, REFUSED for NOTIFY) answered here, so garbage costs no more than a valid
 * query. Counters are the same Python integers the pure path counts. globaldns/server/dns.py
 * picks this or the pure path (GLOBALDNS_PURE_PYTHON=1 forces the pure one).
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64
#define RECV_SIZE 65536
#define REPLY_SIZE 2048
#define HEADER_LEN 12
#define MAX_BOUNDS 64
#define QR 0x80
#define OPCODE_MASK 0x78
#define OPCODE_SHIFT 3
#define OPCODE_QUERY 0
#define OPCODE_NOTIFY 4
#define TC 0x02
#define RD 0x01
#define RCODE_MASK 0x0F
#define MAX_LABEL_LEN 63
#define FORMERR 1
#define NOTIMP 4
#define REFUSED 5
#define HEAD_LEN 10  /* a remembered reply's flags and counts */
#define COUNTS_LEN 8 /* QDCOUNT..ARCOUNT */
/* Room for the one control message a query brings on a wildcard listener (in6_pktinfo is the
 * larger), and for the one its reply sends. */
#define CONTROL_LEN CMSG_SPACE(sizeof(struct in6_pktinfo))

typedef struct {
    PyObject_HEAD
    int fd;
    PyObject *responder;
    PyObject *memo;       /* responder.memo.entries: dict[bytes, Recent], never rebound */
    PyObject *respond;    /* callable(bytes, Recent | None) -> bytes | None for the rest */
    PyObject *queries;    /* QueryCounters */
    PyObject *transport;  /* TransportCounters */
    PyObject *by_type, *by_rcode, *by_tier, *durations;
    long long bounds[MAX_BOUNDS];
    Py_ssize_t nbounds;
    unsigned char *recv_buf;
    unsigned char *reply_buf;
    struct mmsghdr in[BATCH], out[BATCH];
    struct iovec in_iov[BATCH], out_iov[BATCH];
    struct sockaddr_storage addrs[BATCH];
    PyObject *held[BATCH];
    union {
        char bytes[CONTROL_LEN];
        struct cmsghdr align;
    } control_in[BATCH], control_out[BATCH];
} FastUdp;

static PyObject *str_memo, *str_entries, *str_counters, *str_by_type, *str_by_rcode, *str_by_tier,
    *str_udp_durations, *str_udp_duration_sum, *str_dropped, *str_errors, *str_truncated;

/* The classes whose instances this loop reads, and the offsets of the slots it reads in them:
 * a remembered reply (globaldns.dns.memo.Recent), its compiled answer, that answer's sections
 * and how its records take turns (globaldns.dns.answer.Answer, Sections and Turns). */
static PyTypeObject *recent_type, *answer_type, *sections_type, *turns_type;
static Py_ssize_t at_heads, at_tail, at_answer, at_qend, at_qtype, at_do, at_limit;
static Py_ssize_t at_sections, at_turns, at_turn, at_flags, at_rcode, at_tier;
static Py_ssize_t at_head, at_edns_head, at_body, at_without_additional;
static Py_ssize_t at_records, at_counts, at_size, at_steps, at_kept;
/* The OPT record a reply ends with, for DO clear and set (globaldns.dns.wire.opt_record). */
#define OPT_LEN 11
static unsigned char opt_records[2][OPT_LEN];

typedef struct {
    Py_ssize_t *at;
    const char *name;
} SlotAt;

/* Finds the slots this loop reads in `module`.`name` by name (each a member descriptor holding
 * its offset): reordered slots are read right, a renamed or missing one fails the import (a
 * TypeError, not a silent fallback to the pure loop). */
static int find_slots(const char *module, const char *name, PyTypeObject **type_at,
                      const SlotAt *read, size_t count) {
    PyObject *found = PyImport_ImportModule(module);
    if (found == NULL) return -1;
    PyObject *type = PyObject_GetAttrString(found, name);
    Py_DECREF(found);
    if (type == NULL) return -1;
    if (!PyType_Check(type)) {
        Py_DECREF(type);
        PyErr_Format(PyExc_TypeError, "%s.%s is not a class", module, name);
        return -1;
    }
    *type_at = (PyTypeObject *)type;
    for (size_t i = 0; i < count; i++) {
        PyObject *slot = PyObject_GetAttrString(type, read[i].name);
        if (slot == NULL && !PyErr_ExceptionMatches(PyExc_AttributeError)) return -1;
        PyErr_Clear();
        int fits = slot != NULL && Py_IS_TYPE(slot, &PyMemberDescr_Type) &&
                   ((PyMemberDescrObject *)slot)->d_member->type == T_OBJECT_EX;
        if (fits) *read[i].at = ((PyMemberDescrObject *)slot)->d_member->offset;
        Py_XDECREF(slot);
        if (!fits) {
            PyErr_Format(PyExc_TypeError, "%s.%s.%s is not a slot", module, name, read[i].name);
            return -1;
        }
    }
    return 0;
}

/* The OPT records, made by the one function that makes them for the responder. */
static int find_opt_records(void) {
    PyObject *wire = PyImport_ImportModule("globaldns.dns.wire");
    if (wire == NULL) return -1;
    PyObject *make = PyObject_GetAttrString(wire, "opt_record");
    Py_DECREF(wire);
    if (make == NULL) return -1;
    for (int do_bit = 0; do_bit < 2; do_bit++) {
        PyObject *made = PyObject_CallFunctionObjArgs(make, do_bit ? Py_True : Py_False, NULL);
        int fits = made != NULL && PyBytes_Check(made) && PyBytes_GET_SIZE(made) == OPT_LEN;
        if (fits) memcpy(opt_records[do_bit], PyBytes_AS_STRING(made), OPT_LEN);
        Py_XDECREF(made);
        if (!fits) {
            Py_DECREF(make);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "opt_record() is not an 11-byte OPT record");
            return -1;
        }
    }
    Py_DECREF(make);
    return 0;
}

static int find_classes(void) {
    static const SlotAt recent[] = {
        {&at_heads, "heads"}, {&at_tail, "tail"}, {&at_answer, "answer"}, {&at_qend, "qend"},
        {&at_qtype, "qtype"}, {&at_do, "do"},     {&at_limit, "limit"},
    };
    static const SlotAt answer[] = {
        {&at_sections, "sections"}, {&at_turns, "turns"}, {&at_turn, "turn"},
        {&at_flags, "flags"},       {&at_rcode, "rcode"}, {&at_tier, "tier"},
    };
    static const SlotAt sections[] = {
        {&at_head, "head"},
        {&at_edns_head, "edns_head"},
        {&at_body, "body"},
        {&at_without_additional, "without_additional"},
    };
    static const SlotAt turns[] = {
        {&at_records, "records"}, {&at_counts, "counts"}, {&at_size, "size"},
        {&at_steps, "steps"},     {&at_kept, "kept"},
    };
#define COUNT(array) (sizeof(array) / sizeof(array[0]))
    if (find_slots("globaldns.dns.memo", "Recent", &recent_type, recent, COUNT(recent)) ||
        find_slots("globaldns.dns.answer", "Answer", &answer_type, answer, COUNT(answer)) ||
        find_slots("globaldns.dns.answer", "Sections", &sections_type, sections,
                   COUNT(sections)) ||
        find_slots("globaldns.dns.answer", "Turns", &turns_type, turns, COUNT(turns)))
        return -1;
#undef COUNT
    return find_opt_records();
}

/* A slot of an instance (borrowed; NULL when unset). */
static inline PyObject *slot_of(PyObject *object, Py_ssize_t at) {
    return *(PyObject **)((char *)object + at);
}

/* A slot holding a Python int, read into `*value`; 0 when it holds none (or one too large). */
static inline int int_slot(PyObject *object, Py_ssize_t at, Py_ssize_t *value) {
    PyObject *held = slot_of(object, at);
    if (held == NULL || !PyLong_CheckExact(held)) return 0;
    *value = PyLong_AsSsize_t(held);
    if (*value == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* A slot holding bytes of exactly `length` bytes (any length when negative), or NULL. */
static inline PyObject *bytes_slot(PyObject *object, Py_ssize_t at, Py_ssize_t length) {
    PyObject *held = slot_of(object, at);
    if (held == NULL || !PyBytes_CheckExact(held)) return NULL;
    return length < 0 || PyBytes_GET_SIZE(held) == length ? held : NULL;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* list[i] += n for a list of Python ints; out-of-range indexes are ignored. */
static int bump(PyObject *list, long i, long long n) {
    if (i < 0 || i >= PyList_GET_SIZE(list)) return 0;
    PyObject *old = PyList_GET_ITEM(list, i);
    long long value = PyLong_AsLongLong(old);
    if (value == -1 && PyErr_Occurred()) return -1;
    PyObject *updated = PyLong_FromLongLong(value + n);
    if (updated == NULL) return -1;
    PyList_SET_ITEM(list, i, updated);
    Py_DECREF(old);
    return 0;
}

/* obj.name += n (an int or a float attribute). */
static int add_to(PyObject *obj, PyObject *name, PyObject *n) {
    PyObject *old = PyObject_GetAttr(obj, name);
    if (old == NULL) return -1;
    PyObject *sum = PyNumber_Add(old, n);
    Py_DECREF(old);
    if (sum == NULL) return -1;
    int rc = PyObject_SetAttr(obj, name, sum);
    Py_DECREF(sum);
    return rc;
}

static int add_int(PyObject *obj, PyObject *name, long long n) {
    if (n == 0) return 0;
    PyObject *value = PyLong_FromLongLong(n);
    if (value == NULL) return -1;
    int rc = add_to(obj, name, value);
    Py_DECREF(value);
    return rc;
}

/* The header-only error NSD (and Responder._error) sends for a packet that is no plain query:
 * another opcode (NOTIFY refused, the rest not implemented), RCODE bits set, a question count
 * other than one or an answer section, or a name that runs past the packet or holds a label
 * over 63 bytes (FORMERR); other sections (an IXFR's SOA, OPT, TSIG) are the responder's to
 * judge. Written to `reply`;
 * 0 when `data` is none of these. The same checks in the same order as the responder. */
static Py_ssize_t header_error(FastUdp *self, const unsigned char *data, Py_ssize_t size,
                               unsigned char *reply) {
    static const unsigned char one_question[4] = {0, 1, 0, 0};
    int opcode = (data[2] & OPCODE_MASK) >> OPCODE_SHIFT, rcode = 0;
    if (opcode == OPCODE_NOTIFY) {
        rcode = REFUSED;
    } else if (opcode != OPCODE_QUERY) {
        rcode = NOTIMP;
    } else if (data[3] & RCODE_MASK || memcmp(data + 4, one_question, 4) != 0) {
        rcode = FORMERR;
    } else {
        Py_ssize_t i = HEADER_LEN;
        for (;;) {
            if (i >= size || data[i] > MAX_LABEL_LEN) {
                rcode = FORMERR;
                break;
            }
            if (data[i] == 0) break;
            i += data[i] + 1;
        }
    }
    if (!rcode) return 0;
    memcpy(reply, data, 2);
    reply[2] = QR | (data[2] & (OPCODE_MASK | RD));
    reply[3] = (unsigned char)rcode;
    memset(reply + 4, 0, 8);
    if (bump(self->by_rcode, rcode, 1)) return -1;
    return HEADER_LEN;
}

static Py_ssize_t splice(FastUdp *self, PyObject *entry, const unsigned char *data,
                         Py_ssize_t size, unsigned char *reply);

/* The reply leaves from the address its query came to (see dns.from_destination): on a
 * wildcard listener the kernel said it in the query's IP_PKTINFO or IPV6_PKTINFO, and `out`
 * gets the control message that sends from it; with none, none. */
static void from_destination(struct msghdr *in, struct msghdr *out, void *control) {
    out->msg_control = NULL;
    out->msg_controllen = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(in); c != NULL; c = CMSG_NXTHDR(in, c)) {
        struct cmsghdr *reply = (struct cmsghdr *)control;
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
            struct in_pktinfo got, send;
            memcpy(&got, CMSG_DATA(c), sizeof(got));
            memset(&send, 0, sizeof(send));
            send.ipi_spec_dst = got.ipi_addr;
            reply->cmsg_level = IPPROTO_IP;
            reply->cmsg_type = IP_PKTINFO;
            reply->cmsg_len = CMSG_LEN(sizeof(send));
            memcpy(CMSG_DATA(reply), &send, sizeof(send));
            out->msg_control = control;
            out->msg_controllen = CMSG_SPACE(sizeof(send));
            return;
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
            reply->cmsg_level = IPPROTO_IPV6;
            reply->cmsg_type = IPV6_PKTINFO;
            reply->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
            memcpy(CMSG_DATA(reply), CMSG_DATA(c), sizeof(struct in6_pktinfo));
            out->msg_control = control;
            out->msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
            return;
        }
    }
}

/* The memo's reply to `data` written to `reply`, or 0 when the memo cannot answer it; then
 * `*seen` is the entry it holds for the question (a new reference) if any, for the responder,
 * which splices or assembles it without asking the memo again. */
static Py_ssize_t from_memo(FastUdp *self, const unsigned char *data, Py_ssize_t size,
                            unsigned char *reply, PyObject **seen) {
    static const unsigned char one_question[6] = {0, 1, 0, 0, 0, 0};
    *seen = NULL;
    if (data[2] & OPCODE_MASK || memcmp(data + 4, one_question, 6) != 0) return 0;
    PyObject *key = PyBytes_FromStringAndSize(NULL, size - 10);
    if (key == NULL) return -1;
    unsigned char *k = (unsigned char *)PyBytes_AS_STRING(key);
    for (Py_ssize_t i = 10; i < size; i++) {
        unsigned char c = data[i];
        k[i - 10] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    }
    PyObject *entry = PyDict_GetItemWithError(self->memo, key);
    Py_DECREF(key);
    if (entry == NULL) return PyErr_Occurred() ? -1 : 0;
    Py_INCREF(entry); /* held while its answer's attributes are read */
    Py_ssize_t length = splice(self, entry, data, size, reply);
    if (length == 0)
        *seen = entry;
    else
        Py_DECREF(entry);
    return length;
}

/* What a remembered entry says about its question, read and checked before anything is
 * counted or written: a reply is made from it, or the responder gets the entry. */
typedef struct {
    PyObject *heads, *answer;
    Py_ssize_t qend, qtype, do_bit, limit, rcode, tier, question;
} Remembered;

static int remembered(PyObject *entry, Py_ssize_t size, Remembered *r) {
    if (Py_TYPE(entry) != recent_type) return 0;
    r->heads = slot_of(entry, at_heads);
    r->answer = slot_of(entry, at_answer);
    if (r->heads == NULL || r->answer == NULL || Py_TYPE(r->answer) != answer_type) return 0;
    if (!int_slot(entry, at_qend, &r->qend) || !int_slot(entry, at_qtype, &r->qtype) ||
        !int_slot(entry, at_do, &r->do_bit) || !int_slot(entry, at_limit, &r->limit) ||
        !int_slot(r->answer, at_rcode, &r->rcode) || !int_slot(r->answer, at_tier, &r->tier))
        return 0;
    r->question = r->qend + 4 - HEADER_LEN; /* the question's name, type and class */
    return r->qend > HEADER_LEN && r->qend + 4 <= size && r->do_bit >= -1 && r->do_bit <= 1;
}

/* A fixed reply (`Recent.heads` set): the remembered flags, counts and tail around the asker's
 * question. */
static Py_ssize_t fixed(const Remembered *r, PyObject *entry, const unsigned char *data,
                        unsigned char *reply) {
    if (!PyTuple_CheckExact(r->heads) || PyTuple_GET_SIZE(r->heads) != 2) return 0;
    PyObject *head = PyTuple_GET_ITEM(r->heads, data[2] & RD);
    PyObject *tail = bytes_slot(entry, at_tail, -1);
    if (tail == NULL || !PyBytes_CheckExact(head) || PyBytes_GET_SIZE(head) != HEAD_LEN) return 0;
    Py_ssize_t tail_len = PyBytes_GET_SIZE(tail);
    Py_ssize_t total = 2 + HEAD_LEN + r->question + tail_len;
    if (total > REPLY_SIZE) return 0;
    memcpy(reply, data, 2);
    memcpy(reply + 2, PyBytes_AS_STRING(head), HEAD_LEN);
    memcpy(reply + 2 + HEAD_LEN, data + HEADER_LEN, r->question);
    memcpy(reply + 2 + HEAD_LEN + r->question, PyBytes_AS_STRING(tail), tail_len);
    return total;
}

/* How a rotating answer's records take turns (`Answer.turns`), read and checked before
 * anything is written: `counts` records per group of `size` bytes each tile `records`, and an
 * answer holds the first `kept` of them (`body` bytes, order 0's answer section). */
typedef struct {
    PyObject *records, *counts;
    Py_ssize_t size, steps, kept;
} Turning;

static int turning(PyObject *turns, Py_ssize_t body, Turning *t) {
    if (Py_TYPE(turns) != turns_type) return 0;
    t->records = bytes_slot(turns, at_records, -1);
    t->counts = slot_of(turns, at_counts);
    if (t->records == NULL || t->counts == NULL || !PyTuple_CheckExact(t->counts) ||
        !int_slot(turns, at_size, &t->size) || !int_slot(turns, at_steps, &t->steps) ||
        !int_slot(turns, at_kept, &t->kept))
        return 0;
    if (t->size <= 0 || t->steps <= 0 || t->kept < 0 || t->kept > body / t->size ||
        t->kept * t->size != body)
        return 0;
    Py_ssize_t records = 0;
    for (Py_ssize_t g = 0; g < PyTuple_GET_SIZE(t->counts); g++) {
        PyObject *count = PyTuple_GET_ITEM(t->counts, g);
        Py_ssize_t n = PyLong_CheckExact(count) ? PyLong_AsSsize_t(count) : -1;
        if (n <= 0 || n > PyBytes_GET_SIZE(t->records) / t->size) {
            PyErr_Clear();
            return 0;
        }
        records += n;
    }
    return records * t->size == PyBytes_GET_SIZE(t->records) && records >= t->kept;
}

/* Order `step` of the records, cut at `kept` (Turns.order): each group from its starting
 * record around to the one before it, groups in order. Writes `kept * size` bytes. */
static void write_order(const Turning *t, Py_ssize_t step, unsigned char *at) {
    const unsigned char *records = (const unsigned char *)PyBytes_AS_STRING(t->records);
    Py_ssize_t left = t->kept * t->size, from = 0;
    for (Py_ssize_t g = 0; left > 0 && g < PyTuple_GET_SIZE(t->counts); g++) {
        Py_ssize_t count = PyLong_AsSsize_t(PyTuple_GET_ITEM(t->counts, g));
        Py_ssize_t length = count * t->size;
        Py_ssize_t start = step * count / t->steps % count * t->size;
        Py_ssize_t head = length - start < left ? length - start : left;
        memcpy(at, records + from + start, head);
        at += head;
        left -= head;
        Py_ssize_t tail = start < left ? start : left;
        memcpy(at, records + from, tail);
        at += tail;
        left -= tail;
        from += length;
    }
}

/* A reply whose records rotate or that does not fit (`Recent.heads` None), assembled as
 * Responder._reply assembles it: the order of the records for the answer's turn, or TC with
 * no records when that does not fit; the answer's turn advanced the same way. A reply that
 * would shed additional data to fit is the responder's (no rotating answer carries any: SRV
 * answers do not rotate, and are remembered whole). */
static Py_ssize_t assemble(FastUdp *self, const Remembered *r, const unsigned char *data,
                           unsigned char *reply) {
    PyObject *sections = slot_of(r->answer, at_sections), *turns = slot_of(r->answer, at_turns);
    PyObject *flags = slot_of(r->answer, at_flags);
    if (sections == NULL || Py_TYPE(sections) != sections_type || turns == NULL ||
        flags == NULL || !PyTuple_CheckExact(flags) || PyTuple_GET_SIZE(flags) != 2)
        return 0;
    PyObject *flag_bytes = PyTuple_GET_ITEM(flags, data[2] & RD);
    if (!PyBytes_CheckExact(flag_bytes) || PyBytes_GET_SIZE(flag_bytes) != 2) return 0;
    const unsigned char *flag = (const unsigned char *)PyBytes_AS_STRING(flag_bytes);
    Py_ssize_t room = r->limit - r->qend - 4;
    PyObject *body = bytes_slot(sections, at_body, -1);
    PyObject *counts = bytes_slot(sections, r->do_bit < 0 ? at_head : at_edns_head, COUNTS_LEN);
    if (body == NULL || counts == NULL) return 0;
    Turning t = {0};
    Py_ssize_t turn = 0;
    if (turns != Py_None) {
        if (!turning(turns, PyBytes_GET_SIZE(body), &t) || !int_slot(r->answer, at_turn, &turn))
            return 0;
        turn %= t.steps;
        if (turn < 0) turn += t.steps; /* Python's modulo */
    }
    int truncated = PyBytes_GET_SIZE(body) > room;
    if (truncated && slot_of(sections, at_without_additional) != Py_None) return 0;
    Py_ssize_t body_len = truncated ? 0 : PyBytes_GET_SIZE(body);
    Py_ssize_t opt_len = r->do_bit < 0 ? 0 : OPT_LEN;
    Py_ssize_t total = 2 + HEAD_LEN + r->question + body_len + opt_len;
    if (total > REPLY_SIZE) return 0;
    if (turns != Py_None) {
        PyObject *next = PyLong_FromSsize_t(turn + 1);
        if (next == NULL) return -1;
        Py_XSETREF(*(PyObject **)((char *)r->answer + at_turn), next);
    }
    if (truncated && add_int(self->queries, str_truncated, 1)) return -1;
    unsigned char *at = reply;
    memcpy(at, data, 2);
    at[2] = truncated ? flag[0] | TC : flag[0];
    at[3] = flag[1];
    if (truncated) {
        memset(at + 4, 0, COUNTS_LEN);
        at[5] = 1;                      /* QDCOUNT */
        at[11] = r->do_bit < 0 ? 0 : 1; /* ARCOUNT: the OPT */
    } else {
        memcpy(at + 4, PyBytes_AS_STRING(counts), COUNTS_LEN);
    }
    at += 2 + HEAD_LEN;
    memcpy(at, data + HEADER_LEN, r->question);
    at += r->question;
    if (truncated || turns == Py_None)
        memcpy(at, PyBytes_AS_STRING(body), body_len);
    else
        write_order(&t, turn, at);
    if (opt_len) memcpy(at + body_len, opt_records[r->do_bit], OPT_LEN);
    return total;
}

/* A remembered entry's reply around the asker's question, counted; 0 when the responder must
 * make it (nothing counted then). */
static Py_ssize_t splice(FastUdp *self, PyObject *entry, const unsigned char *data,
                         Py_ssize_t size, unsigned char *reply) {
    Remembered r;
    if (!remembered(entry, size, &r)) return 0;
    Py_ssize_t length =
        r.heads == Py_None ? assemble(self, &r, data, reply) : fixed(&r, entry, data, reply);
    if (length <= 0) return length;
    if (bump(self->by_type, r.qtype, 1) || bump(self->by_rcode, r.rcode, 1) ||
        bump(self->by_tier, r.tier, 1))
        return -1;
    return length;
}

/* One wake-up: read a batch, answer it, send the replies. Never raises (a bug costs queries,
 * counted in `errors` and reported as unraisable, never the server). */
static PyObject *FastUdp_drain(FastUdp *self, PyObject *Py_UNUSED(ignored)) {
    long long start = now_ns(), dropped = 0, errors = 0;
    int received = -1;
    for (int attempt = 0; attempt < 2 && received < 0; attempt++) {
        for (int i = 0; i < BATCH; i++) {
            self->in[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
            self->in[i].msg_hdr.msg_controllen = CONTROL_LEN;
            self->in[i].msg_hdr.msg_flags = 0;
        }
        received = recvmmsg(self->fd, self->in, BATCH, MSG_DONTWAIT, NULL);
        if (received < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) Py_RETURN_NONE;
            errors++; /* e.g. an ICMP error for an earlier reply */
        }
    }
    if (received < 0) received = 0;

    int replies = 0;
    for (int i = 0; i < received; i++) {
        const unsigned char *data = self->recv_buf + (size_t)i * RECV_SIZE;
        Py_ssize_t size = self->in[i].msg_len;
        if (size < HEADER_LEN || data[2] & QR) {
            dropped++;
            continue;
        }
        unsigned char *reply = self->reply_buf + (size_t)replies * REPLY_SIZE;
        PyObject *seen = NULL; /* the memo's entry, when it cannot be spliced here */
        Py_ssize_t length = header_error(self, data, size, reply);
        if (length == 0) length = from_memo(self, data, size, reply, &seen);
        PyObject *held = NULL;
        if (length < 0) {
            PyErr_WriteUnraisable((PyObject *)self);
            errors++;
            continue;
        }
        if (length == 0) {
            PyObject *packet = PyBytes_FromStringAndSize((const char *)data, size);
            if (packet == NULL) {
                Py_XDECREF(seen);
                PyErr_WriteUnraisable((PyObject *)self);
                errors++;
                continue;
            }
            PyObject *args[2] = {packet, seen != NULL ? seen : Py_None};
            held = PyObject_Vectorcall(self->respond, args, 2, NULL);
            Py_DECREF(packet);
            Py_XDECREF(seen);
            if (held == NULL) {
                PyErr_WriteUnraisable((PyObject *)self);
                errors++;
                continue;
            }
            if (!PyBytes_Check(held)) { /* None: dropped by the responder */
                Py_DECREF(held);
                continue;
            }
            reply = (unsigned char *)PyBytes_AS_STRING(held);
            length = PyBytes_GET_SIZE(held);
        }
        self->held[replies] = held;
        self->out_iov[replies].iov_base = reply;
        self->out_iov[replies].iov_len = (size_t)length;
        self->out[replies].msg_hdr.msg_name = &self->addrs[i];
        self->out[replies].msg_hdr.msg_namelen = self->in[i].msg_hdr.msg_namelen;
        from_destination(&self->in[i].msg_hdr, &self->out[replies].msg_hdr,
                         self->control_out[replies].bytes);
        replies++;
    }

    for (int sent = 0; sent < replies;) {
        int n = sendmmsg(self->fd, self->out + sent, replies - sent, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            errors++; /* send buffer full or the client gone: UDP may drop */
            sent++;
        } else {
            sent += n;
        }
    }
    long long elapsed = now_ns() - start;
    Py_ssize_t bucket = 0;
    while (bucket < self->nbounds && elapsed > self->bounds[bucket]) bucket++;
    for (int i = 0; i < replies; i++) Py_XDECREF(self->held[i]);

    int failed = 0;
    if (replies) {
        PyObject *seconds = PyFloat_FromDouble((double)elapsed * replies * 1e-9);
        failed = seconds == NULL || bump(self->durations, (long)bucket, replies) ||
                 add_to(self->transport, str_udp_duration_sum, seconds);
        Py_XDECREF(seconds);
    }
    if (failed || add_int(self->queries, str_dropped, dropped) ||
        add_int(self->transport, str_errors, errors))
        PyErr_WriteUnraisable((PyObject *)self);
    Py_RETURN_NONE;
}

static int FastUdp_init(FastUdp *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"fd", "responder", "respond", "transport", "bounds_ns", NULL};
    int fd;
    PyObject *responder, *respond, *transport, *bounds;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iOOOO", kwlist, &fd, &responder, &respond,
                                     &transport, &bounds))
        return -1;
    PyObject *sequence = PySequence_Fast(bounds, "bounds_ns must be a sequence of ints");
    if (sequence == NULL) return -1;
    self->nbounds = PySequence_Fast_GET_SIZE(sequence);
    if (self->nbounds > MAX_BOUNDS) {
        Py_DECREF(sequence);
        PyErr_SetString(PyExc_ValueError, "too many duration bounds");
        return -1;
    }
    for (Py_ssize_t i = 0; i < self->nbounds; i++)
        self->bounds[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(sequence, i));
    Py_DECREF(sequence);
    if (PyErr_Occurred()) return -1;

    PyObject *memo = PyObject_GetAttr(responder, str_memo), *entries = NULL;
    if (memo != NULL) {
        entries = PyObject_GetAttr(memo, str_entries);
        Py_DECREF(memo);
    }
    if (entries == NULL) return -1;
    if (!PyDict_CheckExact(entries)) {
        Py_DECREF(entries);
        PyErr_SetString(PyExc_TypeError, "responder.memo.entries must be a dict");
        return -1;
    }
    Py_XSETREF(self->memo, entries);
    PyObject *queries = PyObject_GetAttr(responder, str_counters);
    if (queries == NULL) return -1;
    PyObject *by_type = PyObject_GetAttr(queries, str_by_type);
    PyObject *by_rcode = PyObject_GetAttr(queries, str_by_rcode);
    PyObject *by_tier = PyObject_GetAttr(queries, str_by_tier);
    PyObject *durations = PyObject_GetAttr(transport, str_udp_durations);
    if (by_type == NULL || by_rcode == NULL || by_tier == NULL || durations == NULL ||
        !PyList_Check(by_type) || !PyList_Check(by_rcode) || !PyList_Check(by_tier) ||
        !PyList_Check(durations)) {
        Py_DECREF(queries);
        Py_XDECREF(by_type);
        Py_XDECREF(by_rcode);
        Py_XDECREF(by_tier);
        Py_XDECREF(durations);
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "counters must be lists");
        return -1;
    }
    if (self->recv_buf == NULL) self->recv_buf = PyMem_RawMalloc((size_t)BATCH * RECV_SIZE);
    if (self->reply_buf == NULL) self->reply_buf = PyMem_RawMalloc((size_t)BATCH * REPLY_SIZE);
    if (self->recv_buf == NULL || self->reply_buf == NULL) {
        Py_DECREF(queries);
        Py_DECREF(by_type);
        Py_DECREF(by_rcode);
        Py_DECREF(by_tier);
        Py_DECREF(durations);
        PyErr_NoMemory();
        return -1;
    }
    self->fd = fd;
    Py_INCREF(responder);
    Py_XSETREF(self->responder, responder);
    Py_INCREF(respond);
    Py_XSETREF(self->respond, respond);
    Py_INCREF(transport);
    Py_XSETREF(self->transport, transport);
    Py_XSETREF(self->queries, queries);
    Py_XSETREF(self->by_type, by_type);
    Py_XSETREF(self->by_rcode, by_rcode);
    Py_XSETREF(self->by_tier, by_tier);
    Py_XSETREF(self->durations, durations);
    memset(self->in, 0, sizeof(self->in));
    memset(self->out, 0, sizeof(self->out));
    for (int i = 0; i < BATCH; i++) {
        self->in_iov[i].iov_base = self->recv_buf + (size_t)i * RECV_SIZE;
        self->in_iov[i].iov_len = RECV_SIZE;
        self->in[i].msg_hdr.msg_iov = &self->in_iov[i];
        self->in[i].msg_hdr.msg_iovlen = 1;
        self->in[i].msg_hdr.msg_name = &self->addrs[i];
        self->in[i].msg_hdr.msg_control = self->control_in[i].bytes;
        self->out[i].msg_hdr.msg_iov = &self->out_iov[i];
        self->out[i].msg_hdr.msg_iovlen = 1;
    }
    return 0;
}

/* Every object the loop holds a reference to, for the garbage collector. */
#define HELD_OBJECTS(F)                                                                   \
    F(responder) F(memo) F(respond) F(queries) F(transport) F(by_type) F(by_rcode) F(by_tier) \
    F(durations)
#define VISIT_FIELD(field) Py_VISIT(self->field);
#define CLEAR_FIELD(field) Py_CLEAR(self->field);

static int FastUdp_traverse(FastUdp *self, visitproc visit, void *arg) {
    HELD_OBJECTS(VISIT_FIELD)
    return 0;
}

static int FastUdp_clear(FastUdp *self) {
    HELD_OBJECTS(CLEAR_FIELD)
    return 0;
}

static void FastUdp_dealloc(FastUdp *self) {
    PyObject_GC_UnTrack(self);
    FastUdp_clear(self);
    PyMem_RawFree(self->recv_buf);
    PyMem_RawFree(self->reply_buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef FastUdp_methods[] = {
    {"drain", (PyCFunction)FastUdp_drain, METH_NOARGS,
     "Read up to one batch of datagrams, answer them, send the replies."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FastUdpType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "globaldns.server._fastudp.FastUdp",
    .tp_doc = "The UDP loop of one socket: recvmmsg, the memo, sendmmsg.",
    .tp_basicsize = sizeof(FastUdp),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)FastUdp_init,
    .tp_dealloc = (destructor)FastUdp_dealloc,
    .tp_traverse = (traverseproc)FastUdp_traverse,
    .tp_clear = (inquiry)FastUdp_clear,
    .tp_methods = FastUdp_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastudp", "The compiled UDP loop (see globaldns/server/dns.py).",
    -1, NULL,
};

PyMODINIT_FUNC PyInit__fastudp(void) {
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&str_memo, "memo"},           {&str_entries, "entries"},
        {&str_counters, "counters"},   {&str_by_type, "by_type"},
        {&str_by_rcode, "by_rcode"},   {&str_by_tier, "by_tier"},
        {&str_udp_durations, "udp_durations"},
        {&str_udp_duration_sum, "udp_duration_sum"},
        {&str_dropped, "dropped"},     {&str_errors, "errors"},
        {&str_truncated, "truncated"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        *names[i].slot = PyUnicode_InternFromString(names[i].text);
        if (*names[i].slot == NULL) return NULL;
    }
    if (find_classes() < 0) return NULL;
    if (PyType_Ready(&FastUdpType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&FastUdpType);
    if (PyModule_AddObject(m, "FastUdp", (PyObject *)&FastUdpType) < 0) {
        Py_DECREF(&FastUdpType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
