/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "acs-macro.h"
#include "web-cost.h"
#include "web-workers.h"

typedef struct JobList {
        WebJob *head, *tail;
} JobList;

struct WebWorkers {
        pthread_mutex_t lock;
        pthread_cond_t wakeup;
        JobList queued, done;
        atomic_bool stopping;   /* also read without the lock, by burns in progress */
        int event_fd;
        pthread_t *threads;
        unsigned n_threads;
};

static void job_list_append(JobList *l, WebJob *j) {
        j->next = NULL;
        if (l->tail)
                l->tail->next = j;
        else
                l->head = j;
        l->tail = j;
}

static WebJob *job_list_pop(JobList *l) {
        WebJob *j = l->head;

        if (j) {
                l->head = j->next;
                if (!l->head)
                        l->tail = NULL;
                j->next = NULL;
        }
        return j;
}

static void *worker_main(void *userdata) {
        WebWorkers *w = userdata;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                WebJob *j;
                bool was_empty;

                while (!w->queued.head && !atomic_load(&w->stopping))
                        pthread_cond_wait(&w->wakeup, &w->lock);
                if (atomic_load(&w->stopping))
                        break;  /* queued jobs are dropped: their connections are closed anyway */
                j = job_list_pop(&w->queued);
                pthread_mutex_unlock(&w->lock);

                j->used = web_burn_cpu(j->cost, &w->stopping);

                pthread_mutex_lock(&w->lock);
                was_empty = !w->done.head;
                job_list_append(&w->done, j);
                /* One wakeup per batch: the loop takes the whole done list at once. */
                if (was_empty)
                        (void) write(w->event_fd, &(uint64_t) { 1 }, sizeof(uint64_t));
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

int web_workers_new(unsigned n, WebWorkers **ret) {
        WebWorkers *w;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wakeup, NULL);
        w->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        w->threads = calloc(MAX(n, 1u), sizeof(pthread_t));
        if (w->event_fd < 0 || !w->threads) {
                r = w->event_fd < 0 ? negative_errno() : -ENOMEM;
                web_workers_free(w);
                return r;
        }
        for (; w->n_threads < n; w->n_threads++) {
                r = -pthread_create(&w->threads[w->n_threads], NULL, worker_main, w);
                if (r < 0) {
                        web_workers_free(w);
                        return r;
                }
        }
        *ret = w;
        return 0;
}

WebWorkers *web_workers_free(WebWorkers *w) {
        if (!w)
                return NULL;
        pthread_mutex_lock(&w->lock);
        atomic_store(&w->stopping, true);
        pthread_cond_broadcast(&w->wakeup);
        pthread_mutex_unlock(&w->lock);
        for (unsigned i = 0; i < w->n_threads; i++)
                pthread_join(w->threads[i], NULL);
        free(w->threads);
        safe_close(w->event_fd);
        pthread_cond_destroy(&w->wakeup);
        pthread_mutex_destroy(&w->lock);
        return mfree(w);
}

int web_workers_fd(const WebWorkers *w) {
        return w->event_fd;
}

void web_workers_submit(WebWorkers *w, WebJob *job) {
        pthread_mutex_lock(&w->lock);
        job_list_append(&w->queued, job);
        pthread_cond_signal(&w->wakeup);
        pthread_mutex_unlock(&w->lock);
}

WebJob *web_workers_take_done(WebWorkers *w) {
        uint64_t v;
        WebJob *head;

        (void) read(w->event_fd, &v, sizeof(v));
        pthread_mutex_lock(&w->lock);
        head = w->done.head;
        w->done = (JobList) {};
        pthread_mutex_unlock(&w->lock);
        return head;
}
