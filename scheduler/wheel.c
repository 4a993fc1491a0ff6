/*
 * The timing wheel: see wheel.h. A timer goes on the level of the highest
 * bit in which its expiry differs from now, in the slot its expiry names
 * there; all higher bits agree, so that slot is ahead of now in the
 * current turn of the level. When time passes a slot, its timers are put
 * again, on a finer level or into the expired list.
 */

#include <stddef.h>

#include "wheel.h"


static void
list_init(cs_timer_t *head)
{
    head->next = head;
    head->prev = head;
    head->list = NULL;
    head->handler = NULL;
}


static int
list_empty(const cs_timer_t *head)
{
    return head->next == head;
}


static void
list_push(cs_timer_t *head, cs_timer_t *t)
{
    t->prev = head->prev;
    t->next = head;
    head->prev->next = t;
    head->prev = t;
    t->list = head;
}


static void
list_unlink(cs_timer_t *t)
{
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t;
    t->prev = t;
    t->list = NULL;
}


void
cs_wheel_init(cs_wheel_t *w, uint64_t now)
{
    int  l, s;

    w->now = now;
    w->count = 0;

    for (l = 0; l < CS_WHEEL_LEVELS; l++) {
        w->pending[l] = 0;
        for (s = 0; s < CS_WHEEL_SLOTS; s++) {
            list_init(&w->slots[l][s]);
        }
    }

    list_init(&w->expired);
}


void
cs_timer_init(cs_timer_t *t)
{
    t->expires = 0;
    t->at_us = 0;
    t->handler = NULL;
    t->next = t;
    t->prev = t;
    t->list = NULL;
}


int
cs_timer_pending(const cs_timer_t *t)
{
    return t->list != NULL;
}


static int
wheel_level(uint64_t now, uint64_t expires)
{
    uint64_t  diff;
    int       level;

    diff = now ^ expires;
    level = (63 - __builtin_clzll(diff)) / CS_WHEEL_BITS;

    return level < CS_WHEEL_LEVELS ? level : CS_WHEEL_LEVELS - 1;
}


/* Puts a timer where it belongs from w->now; t is on no list. */
static void
wheel_put(cs_wheel_t *w, cs_timer_t *t)
{
    int  level, slot;

    if (t->expires <= w->now) {
        list_push(&w->expired, t);
        return;
    }

    level = wheel_level(w->now, t->expires);
    slot = (int) ((t->expires >> (level * CS_WHEEL_BITS))
                  & (CS_WHEEL_SLOTS - 1));

    list_push(&w->slots[level][slot], t);
    w->pending[level] |= (uint64_t) 1 << slot;
}


void
cs_wheel_add(cs_wheel_t *w, cs_timer_t *t, uint64_t expires)
{
    if (t->list != NULL) {
        cs_wheel_del(w, t);
    }

    t->expires = expires;
    w->count++;
    wheel_put(w, t);
}


void
cs_wheel_del(cs_wheel_t *w, cs_timer_t *t)
{
    cs_timer_t  *head;
    ptrdiff_t    idx;

    head = t->list;
    if (head == NULL) {
        return;
    }

    list_unlink(t);
    w->count--;

    if (head != &w->expired && list_empty(head)) {
        idx = head - &w->slots[0][0];
        w->pending[idx / CS_WHEEL_SLOTS] &=
            ~((uint64_t) 1 << (idx % CS_WHEEL_SLOTS));
    }
}


void
cs_wheel_update(cs_wheel_t *w, uint64_t now)
{
    int          l, s;
    uint64_t     passed, first, mask, bits;
    cs_timer_t   todo, *t, *head;

    if (now <= w->now) {
        return;
    }

    list_init(&todo);

    for (l = 0; l < CS_WHEEL_LEVELS; l++) {
        passed = (now >> (l * CS_WHEEL_BITS))
                 - (w->now >> (l * CS_WHEEL_BITS));
        if (passed == 0) {
            break;                      /* no coarser level moved either */
        }

        if (passed >= CS_WHEEL_SLOTS) {
            mask = ~(uint64_t) 0;

        } else {
            /* slots first .. first + passed - 1, around the turn */
            first = ((w->now >> (l * CS_WHEEL_BITS)) + 1)
                    & (CS_WHEEL_SLOTS - 1);
            mask = (((uint64_t) 1 << passed) - 1);
            mask = (mask << first) | (first ? mask >> (CS_WHEEL_SLOTS - first)
                                            : 0);
        }

        bits = w->pending[l] & mask;

        while (bits) {
            s = __builtin_ctzll(bits);
            bits &= bits - 1;

            head = &w->slots[l][s];
            while (!list_empty(head)) {
                t = head->next;
                list_unlink(t);
                list_push(&todo, t);
            }
            w->pending[l] &= ~((uint64_t) 1 << s);
        }
    }

    w->now = now;

    while (!list_empty(&todo)) {
        t = todo.next;
        list_unlink(t);
        wheel_put(w, t);
    }
}


void
cs_wheel_rebase(cs_wheel_t *w, uint64_t now)
{
    int          l, s;
    cs_timer_t   all, *t, *head;

    list_init(&all);

    for (l = 0; l < CS_WHEEL_LEVELS; l++) {
        for (s = 0; s < CS_WHEEL_SLOTS; s++) {
            head = &w->slots[l][s];
            while (!list_empty(head)) {
                t = head->next;
                list_unlink(t);
                list_push(&all, t);
            }
        }
        w->pending[l] = 0;
    }
    while (!list_empty(&w->expired)) {
        t = w->expired.next;
        list_unlink(t);
        list_push(&all, t);
    }

    /* each goes again where its own expiry says, seen from the new now */
    w->now = now;
    while (!list_empty(&all)) {
        t = all.next;
        list_unlink(t);
        wheel_put(w, t);
    }
}


cs_timer_t *
cs_wheel_get(cs_wheel_t *w)
{
    cs_timer_t  *t;

    if (list_empty(&w->expired)) {
        return NULL;
    }

    t = w->expired.next;
    list_unlink(t);
    w->count--;

    return t;
}


uint64_t
cs_wheel_next(const cs_wheel_t *w)
{
    int       l, cur, s;
    uint64_t  best, bits, at, turn;

    if (!list_empty(&w->expired)) {
        return w->now;
    }

    best = UINT64_MAX;

    for (l = 0; l < CS_WHEEL_LEVELS; l++) {
        if (w->pending[l] == 0) {
            continue;
        }

        /*
         * A pending slot is ahead of now in this turn of the level, but
         * on the top level (or across a 2^36 ms boundary) it may be in
         * the next turn.
         */
        cur = (int) ((w->now >> (l * CS_WHEEL_BITS)) & (CS_WHEEL_SLOTS - 1));
        bits = (cur == CS_WHEEL_SLOTS - 1)
               ? 0 : w->pending[l] & ~(((uint64_t) 2 << cur) - 1);

        turn = (w->now >> ((l + 1) * CS_WHEEL_BITS))
               << ((l + 1) * CS_WHEEL_BITS);
        if (bits == 0) {
            bits = w->pending[l];
            turn += (uint64_t) 1 << ((l + 1) * CS_WHEEL_BITS);
        }

        s = __builtin_ctzll(bits);
        at = turn | ((uint64_t) s << (l * CS_WHEEL_BITS));

        if (at <= w->now) {
            at = w->now + 1;
        }
        if (at < best) {
            best = at;
        }
    }

    return best;
}


int
cs_wheel_check(const cs_wheel_t *w)
{
    int                l, s, slot;
    uint64_t           n;
    const cs_timer_t  *head, *t;

    n = 0;

    for (l = 0; l < CS_WHEEL_LEVELS; l++) {
        for (s = 0; s < CS_WHEEL_SLOTS; s++) {
            head = &w->slots[l][s];

            if (!!(w->pending[l] & ((uint64_t) 1 << s)) == list_empty(head)) {
                return -1;              /* bitmap and slot disagree */
            }

            for (t = head->next; t != head; t = t->next) {
                if (t->list != head || t->expires <= w->now) {
                    return -2;          /* misfiled or overdue */
                }
                if (wheel_level(w->now, t->expires) != l) {
                    return -3;          /* on the wrong level */
                }
                slot = (int) ((t->expires >> (l * CS_WHEEL_BITS))
                              & (CS_WHEEL_SLOTS - 1));
                if (slot != s) {
                    return -4;
                }
                n++;
            }
        }
    }

    for (t = w->expired.next; t != &w->expired; t = t->next) {
        if (t->expires > w->now) {
            return -5;                  /* expired before its time */
        }
        n++;
    }

    return n == w->count ? 0 : -6;
}
