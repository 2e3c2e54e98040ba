import type { Kysely } from 'kysely';
import type { Database, Db } from '../db/index.ts';

/** The AI tables of migration 0015_ai_algorithms. */
export interface AiAlgorithmsTable {
  id: string;
  name: string;
  version: string;
  description: string;
  /** JSON AppliesTo. */
  applies_to: string;
  /** JSON AlgorithmEndpoint. */
  endpoint: string;
  identified_data: number;
  trigger: string;
  enabled: number;
  timeout_seconds: number;
  concurrency: number;
  created_by: string;
  created_at: string;
  updated_at: string;
}

/** A run of an algorithm on a slide; its state, progress and error are its row in `jobs` (kind 'ai'). */
export interface AiRunsTable {
  id: string;
  algorithm_id: string;
  slide_id: string;
  /** The owning site the run is for: its results show to those who see the slide through that site. */
  site_id: string | null;
  trigger: string;
  requested_by: string | null;
  deidentified: number;
  study_code: string | null;
  token_id: string | null;
  failure: string | null;
  /** The process running it (host:pid:random), while it runs. */
  runner: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  deadline_at: string | null;
  heartbeat_at: string | null;
  result_label: string | null;
  result_score: number | null;
  result_positive: number | null;
  result_text: string | null;
  findings_count: number;
}

export interface AiFindingsTable {
  id: string;
  run_id: string;
  position: number;
  class_name: string | null;
  score: number | null;
  /** JSON: the annotation fields (kind, geometry, classification, label, color, objectType, nucleus, measurements). */
  doc: string;
}

export interface AiHeatmapsTable {
  id: string;
  run_id: string;
  name: string;
  label: string;
  width: number;
  height: number;
  region_x: number;
  region_y: number;
  region_width: number;
  region_height: number;
  range_min: number;
  range_max: number;
  png: Uint8Array;
}

export interface AiVerdictsTable {
  id: string;
  run_id: string;
  target: string;
  user_id: string;
  user_name: string;
  site_id: string | null;
  verdict: string;
  comment: string | null;
  created_at: string;
  updated_at: string;
}

// A type, not an interface: Kysely's withTables wants an index signature.
export type AiTables = {
  ai_algorithms: AiAlgorithmsTable;
  ai_runs: AiRunsTable;
  ai_findings: AiFindingsTable;
  ai_heatmaps: AiHeatmapsTable;
  ai_verdicts: AiVerdictsTable;
};

export type AiDb = Kysely<Database & AiTables>;

/** The database with the AI tables typed (the same connection). */
export function aiDb(db: Db): AiDb {
  return db.withTables<AiTables>() as unknown as AiDb;
}
