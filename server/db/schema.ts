import type { Generated } from 'kysely';

/** Slides known to the server (the store holds the pixels; this is the index for listing and access). */
export interface SlidesTable {
  id: string;
  name: string;
  source_format: string;
  width: number;
  height: number;
  tile_size: number;
  levels: number;
  mpp_x: number | null;
  mpp_y: number | null;
  objective_power: number | null;
  associated: string; // JSON array of names
  created_at: string;
}

export interface JobsTable {
  id: string;
  kind: string;
  state: string;
  percent: number;
  stage: string | null;
  name: string;
  slide_id: string | null;
  error_code: string | null;
  error_message: string | null;
  created_at: string;
  updated_at: string;
}

export interface MigrationsMeta {
  seq: Generated<number>;
}

export interface Database {
  slides: SlidesTable;
  jobs: JobsTable;
}
