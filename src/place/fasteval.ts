/**
 * Allocation-free what-if scoring of a balancing move, for the common case
 * (instance without exclusion or desired-location tags, nodes without location
 * tags or exclusive storage). It mirrors ClusterState.applyMove's node
 * arithmetic on scalar copies of the 2-3 nodes involved and evaluates the group
 * score from the group's running sums: no journal, no maps written. Anything
 * outside the common case returns NaN and the caller falls back to the journal.
 * `fasteval.test.ts` checks both paths agree.
 */
import {
  type ClusterState, type InstS, type MoveType, NODE_FIELDS, SCORE_K, SCORE_MAP_IDX, SCORE_SD_IDX, SCORE_SUM_IDX,
  SCORE_WEIGHTS, scoreFromSums,
} from './state.js';

// module-local copies: imported bindings can compile to getters, too slow in the inner loop
const F: number = NODE_FIELDS;
const K: number = SCORE_K;
const WEIGHTS = Float64Array.from(SCORE_WEIGHTS);
const SD = Int32Array.from(SCORE_SD_IDX);
const SUMS = Int32Array.from(SCORE_SUM_IDX);
const MAPK: number = SCORE_MAP_IDX;

class VNode {
  i = -1;
  iMem = 0; fMemF = 0; fDsk = 0; uCpu = 0; instSp = 0; rMem = 0; failN1 = false; pcnt = 0; scnt = 0;
  confl = 0; locsc = 0; fSp = 0;
  adjP1 = -1; adjV1 = 0; adjP2 = -1; adjV2 = 0;
  tagDelta = 0; // virtual change of this instance's exclusion-tag counts on the node

  copyFrom(o: VNode): void {
    this.i = o.i; this.iMem = o.iMem; this.fMemF = o.fMemF; this.fDsk = o.fDsk; this.uCpu = o.uCpu; this.instSp = o.instSp;
    this.rMem = o.rMem; this.failN1 = o.failN1; this.pcnt = o.pcnt; this.scnt = o.scnt; this.confl = o.confl;
    this.locsc = o.locsc; this.fSp = o.fSp; this.adjP1 = o.adjP1; this.adjV1 = o.adjV1; this.adjP2 = o.adjP2; this.adjV2 = o.adjV2;
    this.tagDelta = o.tagDelta;
  }

  load(st: ClusterState, i: number): void {
    const d = st.d;
    const o = i * F;
    this.i = i;
    this.iMem = d[o]!; this.fMemF = d[o + 1]!; this.fDsk = d[o + 2]!; this.uCpu = d[o + 3]!; this.instSp = d[o + 4]!;
    this.fSp = d[o + 5]!; this.rMem = d[o + 6]!; this.failN1 = d[o + 7] === 1; this.pcnt = d[o + 8]!; this.scnt = d[o + 9]!;
    this.confl = d[o + 10]!; this.locsc = d[o + 11]!;
    this.adjP1 = -1; this.adjP2 = -1; this.tagDelta = 0;
  }
}

export class FastEval {
  private readonly st: ClusterState;
  private readonly a = new VNode();
  private readonly b = new VNode();
  private readonly c = new VNode();
  private best1v: Float64Array;
  private best1p: Int32Array;
  private best2v: Float64Array;
  private best2p: Int32Array;
  private readonly ok: Uint8Array; // node eligible (no location tags, no exclusive storage)
  private readonly sum = new Float64Array(K);
  private readonly sq = new Float64Array(K);
  private readonly v = new Float64Array(K);

  constructor(st: ClusterState) {
    this.st = st;
    const n = st.nodes.length;
    this.best1v = new Float64Array(n); this.best1p = new Int32Array(n);
    this.best2v = new Float64Array(n); this.best2p = new Int32Array(n);
    this.ok = new Uint8Array(n);
    for (const node of st.nodes) {
      this.ok[node.idx] = node.locTags.size === 0 && st.excl[node.idx] === 0 ? 1 : 0;
      this.refresh(node.idx);
    }
  }

  /** Recomputes the cached top-two peer reservations of a node (after a committed change). */
  refresh(i: number): void {
    let v1 = 0, p1 = -1, v2 = 0, p2 = -1;
    for (const [p, v] of this.st.nodes[i]!.peers) {
      if (v > v1 || p1 < 0) { v2 = v1; p2 = p1; v1 = v; p1 = p; }
      else if (v > v2 || p2 < 0) { v2 = v; p2 = p; }
    }
    this.best1v[i] = v1; this.best1p[i] = p1; this.best2v[i] = v2; this.best2p[i] = p2;
  }

  eligible(inst: InstS): boolean {
    return inst.dsrdLoc.size === 0;
  }

  private unalloc(n: VNode): number {
    const st = this.st;
    return st.tMemT[n.i]! - st.nMem[n.i]! - n.iMem - st.xMemPos[n.i]!;
  }

  private peerGet(n: VNode, p: number): number {
    if (p === n.adjP2) return n.adjV2;
    if (p === n.adjP1) return n.adjV1;
    return this.st.nodes[n.i]!.peers.get(p) ?? 0;
  }

  private peerSet(n: VNode, p: number, v: number): void {
    if (n.adjP1 < 0 || n.adjP1 === p) { n.adjP1 = p; n.adjV1 = v; }
    else { n.adjP2 = p; n.adjV2 = v; }
  }

  private peersMax(n: VNode): number {
    const i = n.i;
    let m = 0;
    if (n.adjP1 >= 0) m = Math.max(m, n.adjV1);
    if (n.adjP2 >= 0) m = Math.max(m, n.adjV2);
    const p1 = this.best1p[i]!;
    if (p1 < 0) return m;
    if (p1 !== n.adjP1 && p1 !== n.adjP2) return Math.max(m, this.best1v[i]!);
    const p2 = this.best2p[i]!;
    if (p2 < 0) return m;
    if (p2 !== n.adjP1 && p2 !== n.adjP2) return Math.max(m, this.best2v[i]!);
    // both cached maxima adjusted: scan
    for (const [p, v] of this.st.nodes[i]!.peers) if (p !== n.adjP1 && p !== n.adjP2 && v > m) m = v;
    return m;
  }

  private removePri(n: VNode, inst: InstS): void {
    n.pcnt -= 1;
    if (inst.usesMem) n.iMem -= inst.mem;
    n.failN1 = this.unalloc(n) <= n.rMem;
    if (inst.local) { n.fDsk += inst.dsk; n.instSp -= inst.spindleUse; }
    if (inst.online) n.uCpu -= inst.vcpus;
    n.fMemF += inst.mem;
    if (inst.exclTags.length > 0) {
      const m = this.st.nodes[n.i]!.pTags;
      for (const t of inst.exclTags) if ((m.get(t) ?? 0) + n.tagDelta >= 2) n.confl -= 1;
      n.tagDelta -= 1;
    }
  }

  private removeSec(n: VNode, inst: InstS, pdx: number): void {
    n.scnt -= 1;
    if (inst.local) { n.fDsk += inst.dsk; n.instSp -= inst.spindleUse; }
    const oldPeem = this.peerGet(n, pdx);
    const newPeem = inst.usesSecMem ? oldPeem - inst.mem : oldPeem;
    this.peerSet(n, pdx, newPeem > 0 ? newPeem : 0);
    if (!(oldPeem < n.rMem)) n.rMem = this.peersMax(n);
    n.failN1 = this.unalloc(n) <= n.rMem;
  }

  /** Returns false when a check fails. */
  private addPri(n: VNode, inst: InstS, force: boolean): boolean {
    const st = this.st;
    const i = n.i;
    const newIMem = n.iMem + (inst.usesMem ? inst.mem : 0);
    const newFree = st.tMemT[i]! - st.nMem[i]! - newIMem - st.xMemPos[i]!;
    const newFailN1 = newFree <= n.rMem;
    const newDsk = inst.local ? n.fDsk - inst.dsk : n.fDsk;
    const newInstSp = inst.local ? n.instSp + inst.spindleUse : n.instSp;
    const newUcpu = inst.online ? n.uCpu + inst.vcpus : n.uCpu;
    const lCpu = st.lCpu[i]!;
    if (newFree <= 0) return false;
    if (inst.local && newDsk <= 0) return false;
    if (!force) {
      if (inst.local && newDsk < st.loDsk[i]!) return false;
      if (inst.local && newInstSp > st.hiSp[i]!) return false;
      if (newFailN1 && !n.failN1) return false;
      if (lCpu >= 0 && lCpu < newUcpu / st.tCpu[i]!) return false;
      if (n.fMemF - inst.mem <= 0) return false;
    }
    if (inst.exclTags.length > 0) {
      const m = this.st.nodes[i]!.pTags;
      let add = 0;
      for (const t of inst.exclTags) {
        const c = (m.get(t) ?? 0) + n.tagDelta;
        if (c > 0) { if (!force) return false; add++; }
      }
      n.confl += add;
      n.tagDelta += 1;
    }
    n.pcnt += 1; n.iMem = newIMem; n.fDsk = newDsk; n.failN1 = newFailN1; n.uCpu = newUcpu; n.instSp = newInstSp;
    n.fMemF -= inst.mem;
    return true;
  }

  private addSec(n: VNode, inst: InstS, pdx: number, force: boolean): boolean {
    const st = this.st;
    const i = n.i;
    if (inst.dt !== 'drbd') return false;
    const secMem = inst.usesSecMem ? inst.mem : 0;
    const newPeem = this.peerGet(n, pdx) + secMem;
    const oldMem = this.unalloc(n);
    const newDsk = n.fDsk - inst.dsk;
    const newInstSp = n.instSp + inst.spindleUse;
    const newR = Math.max(n.rMem, newPeem);
    const newFailN1 = oldMem <= newR;
    if (newDsk <= 0) return false;
    if (!force) {
      if (newDsk < st.loDsk[i]!) return false;
      if (newInstSp > st.hiSp[i]!) return false;
      if (secMem >= oldMem) return false;
      if (newFailN1 && !n.failN1) return false;
      if (secMem >= n.fMemF) return false;
    }
    this.peerSet(n, pdx, newPeem);
    n.scnt += 1; n.fDsk = newDsk; n.failN1 = newFailN1; n.rMem = newR; n.instSp = newInstSp;
    return true;
  }

  private vector(n: VNode, out: Float64Array): void {
    const st = this.st;
    const i = n.i;
    const tMem = st.tMem[i]!;
    const pMem = this.unalloc(n) / tMem;
    const pDsk = st.tDsk[i] === 0 ? 1 : n.fDsk / st.tDsk[i]!;
    const pRem = n.rMem / tMem;
    const pCpu = n.uCpu / st.tCpu[i]! / st.speed[i]!;
    const sp = n.instSp / st.hiSp[i]!;
    out[0] = pMem; out[1] = pDsk; out[2] = n.failN1 ? n.pcnt + n.scnt : 0; out[3] = pRem; out[4] = 0; out[5] = 0;
    out[6] = pCpu; out[7] = n.pcnt; out[8] = n.pcnt + n.scnt; out[9] = n.confl; out[10] = sp;
    out[11] = n.fMemF / tMem; out[12] = n.locsc; out[13] = 0; out[14] = pRem;
  }

  private accumulate(n: VNode): void {
    const base = n.i * K;
    const vec = this.st.vec;
    const v = this.v;
    this.vector(n, v);
    for (let k = 0; k < K; k++) {
      const o = vec[base + k]!;
      const x = v[k]!;
      this.sum[k]! += x - o;
      this.sq[k]! += x * x - o * o;
    }
  }

  /**
   * Score of the group after the move, Infinity when the move is refused, NaN when
   * this case is not handled here (use the journal path).
   */
  score(ii: number, mv: MoveType, tdx: number, force: boolean): number {
    const st = this.st;
    const inst = st.insts[ii]!;
    if (!this.eligible(inst)) return NaN;
    const p = st.pNode[ii]!;
    const s = st.sNode[ii]!;
    const ok = this.ok;
    if (ok[p] !== 1 || (s >= 0 && ok[s] !== 1) || (tdx >= 0 && ok[tdx] !== 1)) return NaN;
    if (st.nodes[p]!.migTags.size > 0 || (s >= 0 && st.nodes[s]!.migTags.size > 0)) return NaN;
    const pOff = st.nodes[p]!.offline;
    // offline nodes carry only the offline counters: left to the journal path
    if (pOff || (s >= 0 && st.nodes[s]!.offline) || (tdx >= 0 && st.nodes[tdx]!.offline)) return NaN;
    const A = this.a; // old primary
    const B = this.b; // old secondary
    const C = this.c; // target
    let usedC = false;
    switch (mv) {
      case 'failover': {
        A.load(st, p); B.load(st, s);
        this.removePri(A, inst); this.removeSec(B, inst, p);
        if (!this.addPri(B, inst, pOff || force)) return Infinity;
        if (!this.addSec(A, inst, s, pOff || force)) return Infinity;
        break;
      }
      case 'replaceSecondary': {
        A.load(st, p); B.load(st, s); C.load(st, tdx); usedC = true;
        this.removePri(A, inst); this.removeSec(B, inst, p);
        const fs = st.nodes[s]!.offline || force;
        if (!this.addSec(C, inst, p, fs)) return Infinity;
        if (!this.addPri(A, inst, true)) return Infinity;
        break;
      }
      case 'replacePrimary': {
        A.load(st, p); B.load(st, s); C.load(st, tdx); usedC = true;
        const fp = pOff || force;
        this.removePri(A, inst); this.removeSec(B, inst, p);
        if (!this.addPri(B, inst, fp)) return Infinity;
        this.removePri(B, inst);
        if (!this.addPri(C, inst, fp)) return Infinity;
        if (!this.addSec(B, inst, tdx, fp)) return Infinity;
        break;
      }
      case 'replaceAndFailover': {
        A.load(st, p); B.load(st, s); C.load(st, tdx); usedC = true;
        const fs = st.nodes[s]!.offline || force;
        this.removePri(A, inst); this.removeSec(B, inst, p);
        if (!this.addPri(C, inst, force)) return Infinity;
        if (!this.addSec(A, inst, tdx, fs)) return Infinity;
        break;
      }
      case 'failoverAndReplace': {
        A.load(st, p); B.load(st, s); C.load(st, tdx); usedC = true;
        const fp = pOff || force;
        this.removePri(A, inst); this.removeSec(B, inst, p);
        if (!this.addPri(B, inst, fp)) return Infinity;
        if (!this.addSec(C, inst, s, fp)) return Infinity;
        break;
      }
      case 'failoverToAny':
        return NaN;
    }
    const g = st.groups[st.nodes[p]!.gdx]!;
    this.sum.set(g.sum);
    this.sq.set(g.sq);
    this.accumulate(A);
    this.accumulate(B);
    if (usedC) this.accumulate(C);
    return scoreFromSums(this.sum, this.sq, g.nOnline, g.mapValue);
  }

  // ------------------------------------------------------------------ batched
  private readonly a0 = new VNode();
  private readonly b0 = new VNode();
  private readonly fa = new VNode(); // t-independent final state of a fixed node
  private readonly fb = new VNode();
  private readonly x = new VNode(); // t-dependent scratch
  private readonly baseSum = new Float64Array(K);
  private readonly baseSq = new Float64Array(K);
  private readonly vX = new Float64Array(K);
  private readonly vXBase = new Float64Array(K);
  private readonly vC = new Float64Array(K);

  /** base = group sums with node `n` (old vector in st.vec) replaced by its state `v`. */
  private addToBase(n: VNode): void {
    const base = n.i * K;
    const vec = this.st.vec;
    const v = this.v;
    this.vector(n, v);
    for (let k = 0; k < K; k++) {
      const o = vec[base + k]!;
      const x = v[k]!;
      this.baseSum[k]! += x - o;
      this.baseSq[k]! += x * x - o * o;
    }
  }

  /**
   * Score with `base` plus target node C (old vector from st.vec, new `vC`) and
   * optionally a fixed node re-evaluated (`vXBase` in base replaced by `vX`).
   */
  private scoreWith(ci: number, withX: boolean, n: number, mapValue: number): number {
    const vec = this.st.vec;
    const cb = ci * K;
    const vC = this.vC;
    const vX = this.vX;
    const vXB = this.vXBase;
    const bs = this.baseSum;
    const bq = this.baseSq;
    let total = WEIGHTS[MAPK]! * mapValue;
    for (let j = 0; j < SUMS.length; j++) {
      const k = SUMS[j]!;
      let sm = bs[k]! + vC[k]! - vec[cb + k]!;
      if (withX) sm += vX[k]! - vXB[k]!;
      total += WEIGHTS[k]! * sm;
    }
    for (let j = 0; j < SD.length; j++) {
      const k = SD[j]!;
      const o = vec[cb + k]!;
      const c = vC[k]!;
      let sm = bs[k]! + c - o;
      let sq = bq[k]! + c * c - o * o;
      if (withX) {
        const xb = vXB[k]!;
        const xn = vX[k]!;
        sm += xn - xb;
        sq += xn * xn - xb * xb;
      }
      const mean = sm / n;
      const varr = sq / n - mean * mean;
      if (varr > 0) total += WEIGHTS[k]! * Math.sqrt(varr);
    }
    return total;
  }

  /**
   * Best move of instance `ii` among `types` x `targets` (plus failover when
   * `withFailover`), or null if none beats `cur`; undefined when this instance or
   * its nodes are outside the fast path.
   */
  bestMove(
    ii: number, types: readonly MoveType[], targets: readonly number[], withFailover: boolean, force: boolean, cur: number,
  ): { mv: MoveType; tdx: number; score: number } | null | undefined {
    const st = this.st;
    const inst = st.insts[ii]!;
    if (!this.eligible(inst)) return undefined;
    const p = st.pNode[ii]!;
    const s = st.sNode[ii]!;
    const ok = this.ok;
    if (ok[p] !== 1 || s < 0 || ok[s] !== 1) return undefined;
    const np = st.nodes[p]!;
    const ns = st.nodes[s]!;
    if (np.offline || ns.offline || np.migTags.size > 0 || ns.migTags.size > 0) return undefined;
    if (inst.mirror !== 'internal') return undefined;
    for (const t of targets) {
      const nt = st.nodes[t]!;
      if (ok[t] !== 1 || nt.offline || nt.migTags.size > 0 || nt.rmigTags.size > 0) return undefined;
    }
    const g = st.groups[np.gdx]!;
    const n = g.nOnline;
    const mv0 = g.mapValue;
    let bestScore = cur;
    let bestMv: MoveType | null = null;
    let bestT = -1;
    let bestTi = -2;
    let bestMi = 0;
    // hbal visits failover, then targets in order, then move types in order, keeping the
    // first of equal scores: reproduce that order for (near-)ties
    const better = (sc: number, ti: number, mi: number): boolean => {
      if (sc < bestScore - 1e-12) return true;
      if (bestMv === null || sc > bestScore + 1e-12) return bestMv === null && sc < bestScore;
      return ti < bestTi || (ti === bestTi && mi < bestMi);
    };
    if (withFailover) {
      const sc = this.score(ii, 'failover', -1, force);
      if (sc < bestScore) { bestScore = sc; bestMv = 'failover'; bestT = -1; bestTi = -1; }
    }
    // shared removal
    const A0 = this.a0;
    const B0 = this.b0;
    A0.load(st, p); B0.load(st, s);
    this.removePri(A0, inst); this.removeSec(B0, inst, p);
    const fp = force; // primary/secondary are online here
    const C = this.c;
    const X = this.x;
    const FA = this.fa;
    const FB = this.fb;
    for (let mi = 0; mi < types.length; mi++) {
      const mv = types[mi]!;
      this.baseSum.set(g.sum); this.baseSq.set(g.sq);
      switch (mv) {
        case 'replaceSecondary': {
          FA.copyFrom(A0);
          if (!this.addPri(FA, inst, true)) continue;
          this.addToBase(FA); this.addToBase(B0);
          for (let ti = 0; ti < targets.length; ti++) {
            const t = targets[ti]!;
            if (t === p || t === s) continue;
            C.load(st, t);
            if (!this.addSec(C, inst, p, force)) continue;
            this.vector(C, this.vC);
            const sc = this.scoreWith(t, false, n, mv0);
            if (better(sc, ti, mi)) { bestScore = sc; bestMv = mv; bestT = t; bestTi = ti; bestMi = mi; }
          }
          break;
        }
        case 'replacePrimary': {
          FB.copyFrom(B0);
          if (!this.addPri(FB, inst, fp)) continue;
          this.removePri(FB, inst);
          this.addToBase(A0); this.addToBase(FB);
          this.vector(FB, this.vXBase);
          for (let ti = 0; ti < targets.length; ti++) {
            const t = targets[ti]!;
            if (t === p || t === s) continue;
            C.load(st, t);
            if (!this.addPri(C, inst, fp)) continue;
            X.copyFrom(FB);
            if (!this.addSec(X, inst, t, fp)) continue;
            this.vector(C, this.vC);
            this.vector(X, this.vX);
            const sc = this.scoreWith(t, true, n, mv0);
            if (better(sc, ti, mi)) { bestScore = sc; bestMv = mv; bestT = t; bestTi = ti; bestMi = mi; }
          }
          break;
        }
        case 'replaceAndFailover': {
          this.addToBase(A0); this.addToBase(B0);
          this.vector(A0, this.vXBase);
          for (let ti = 0; ti < targets.length; ti++) {
            const t = targets[ti]!;
            if (t === p || t === s) continue;
            C.load(st, t);
            if (!this.addPri(C, inst, force)) continue;
            X.copyFrom(A0);
            if (!this.addSec(X, inst, t, force)) continue;
            this.vector(C, this.vC);
            this.vector(X, this.vX);
            const sc = this.scoreWith(t, true, n, mv0);
            if (better(sc, ti, mi)) { bestScore = sc; bestMv = mv; bestT = t; bestTi = ti; bestMi = mi; }
          }
          break;
        }
        case 'failoverAndReplace': {
          FB.copyFrom(B0);
          if (!this.addPri(FB, inst, fp)) continue;
          this.addToBase(A0); this.addToBase(FB);
          for (let ti = 0; ti < targets.length; ti++) {
            const t = targets[ti]!;
            if (t === p || t === s) continue;
            C.load(st, t);
            if (!this.addSec(C, inst, s, fp)) continue;
            this.vector(C, this.vC);
            const sc = this.scoreWith(t, false, n, mv0);
            if (better(sc, ti, mi)) { bestScore = sc; bestMv = mv; bestT = t; bestTi = ti; bestMi = mi; }
          }
          break;
        }
        default:
          return undefined;
      }
    }
    return bestMv === null ? null : { mv: bestMv, tdx: bestT, score: bestScore };
  }
}
