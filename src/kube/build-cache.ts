/**
 * A memo for building a namespace's desired state from its custom resources. A write
 * through the remote API builds the whole namespace several times (the 400 check at
 * submit, the check again before the patch, the leader's pass, the API's view), and at
 * 2,000 instances one build costs hundreds of milliseconds, a third to a half of it schema
 * validation of CRs that did not change. Both memos are keyed by content, never by name
 * alone: a CR's validation by the exact document that was validated (metadata kept by the
 * build, resourceVersion included, and spec), a whole build by every document of the
 * namespace in order. So a hit returns exactly what a fresh computation would (validation
 * and the build are pure functions of those documents); the cache only saves the time.
 * Bounded: the oldest entries go first.
 *
 * The built DesiredState is shared between the callers that hit the same key: it is read,
 * never changed, by everything downstream (planner, RAPI view, checks).
 */
import { createHash } from 'node:crypto';
import type { SchemaIssue } from '../api/index.js';

export interface CrBuildCacheOptions {
  /** Validated documents kept (default 50,000: a namespace of 20,000 CRs and the edits of its writes). */
  readonly maxDocs?: number;
  /** Whole builds kept (default 4: the current namespace, a write's candidate, the one before). */
  readonly maxBuilds?: number;
}

/** Hits and misses, for tests and the bench. */
export interface CrBuildCacheStats {
  validated: number;
  validationHits: number;
  built: number;
  buildHits: number;
}

export class CrBuildCache {
  private readonly docs = new Map<string, readonly SchemaIssue[]>();
  private readonly builds = new Map<string, unknown>();
  readonly stats: CrBuildCacheStats = { validated: 0, validationHits: 0, built: 0, buildHits: 0 };

  constructor(private readonly o: CrBuildCacheOptions = {}) {}

  /** The content key of one document (what validate() and build() are keyed by). */
  static keyOf(doc: unknown): string {
    return JSON.stringify(doc);
  }

  /** The schema issues of the document whose key is `key`: validated once per distinct content. */
  issues(key: string, validate: () => readonly SchemaIssue[]): readonly SchemaIssue[] {
    const hit = this.docs.get(key);
    if (hit) {
      this.stats.validationHits++;
      return hit;
    }
    const issues = validate();
    this.stats.validated++;
    remember(this.docs, key, issues, this.o.maxDocs ?? 50_000);
    return issues;
  }

  /** The build of the namespace whose documents have these keys (in order): built once per distinct content. */
  build<T>(docKeys: readonly string[], make: () => T): T {
    const h = createHash('sha256');
    for (const k of docKeys) h.update(k).update('\n');
    const key = h.digest('base64');
    if (this.builds.has(key)) {
      this.stats.buildHits++;
      // most recently used last, so the current namespace outlives a candidate that was refused
      const v = this.builds.get(key) as T;
      this.builds.delete(key);
      this.builds.set(key, v);
      return v;
    }
    const v = make();
    this.stats.built++;
    remember(this.builds, key, v, this.o.maxBuilds ?? 4);
    return v;
  }
}

function remember<V>(m: Map<string, V>, key: string, v: V, max: number): void {
  m.set(key, v);
  if (m.size <= max) return;
  for (const k of m.keys()) {
    m.delete(k);
    if (m.size <= max) return;
  }
}
