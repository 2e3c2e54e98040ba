import {
  Area,
  AreaChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { DashboardDto } from '../../../protocol/cases.ts';
import { backlogChart, turnaroundChart } from '../cases/format.ts';

/** Site colours, in the order the dashboard lists sites. */
const PALETTE = ['#1f5fa8', '#c2557f', '#2e8b6e', '#b7791f', '#7b5aa6', '#4a6fa5', '#a44a3f'];
const AXIS = { fontSize: 12, fill: '#5f6b7a' };
const GRID = '#e4e8ee';

export function BacklogChart({ data }: { data: DashboardDto }) {
  const { rows, series } = backlogChart(data);
  if (rows.length === 0) return <p className="muted small">No backlog history yet.</p>;
  return (
    <ResponsiveContainer width="100%" height={240}>
      <AreaChart data={rows} margin={{ top: 8, right: 24, bottom: 0, left: -12 }}>
        <CartesianGrid stroke={GRID} vertical={false} />
        <XAxis dataKey="label" tick={AXIS} tickLine={false} axisLine={{ stroke: GRID }} />
        <YAxis allowDecimals={false} tick={AXIS} tickLine={false} axisLine={false} />
        <Tooltip />
        <Legend iconType="square" wrapperStyle={{ fontSize: 12 }} />
        {series.map((s, i) => (
          <Area
            key={s.key}
            type="monotone"
            dataKey={s.key}
            name={s.name}
            stackId="backlog"
            stroke={PALETTE[i % PALETTE.length]}
            fill={PALETTE[i % PALETTE.length]}
            fillOpacity={0.25}
            isAnimationActive={false}
          />
        ))}
      </AreaChart>
    </ResponsiveContainer>
  );
}

export function TurnaroundChart({ data }: { data: DashboardDto }) {
  const rows = turnaroundChart(data);
  if (rows.length === 0) return <p className="muted small">No cases reported yet.</p>;
  return (
    <ResponsiveContainer width="100%" height={240}>
      <LineChart data={rows} margin={{ top: 8, right: 24, bottom: 0, left: -12 }}>
        <CartesianGrid stroke={GRID} vertical={false} />
        <XAxis dataKey="label" tick={AXIS} tickLine={false} axisLine={{ stroke: GRID }} />
        <YAxis tick={AXIS} tickLine={false} axisLine={false} unit=" d" />
        <Tooltip formatter={(v) => (v === null || v === undefined ? '–' : `${String(v)} d`)} />
        <Legend iconType="plainline" wrapperStyle={{ fontSize: 12 }} />
        <Line
          type="monotone"
          dataKey="median"
          name="Median"
          stroke="#1f5fa8"
          strokeWidth={2}
          dot={{ r: 3 }}
          isAnimationActive={false}
        />
        <Line
          type="monotone"
          dataKey="p90"
          name="90th percentile"
          stroke="#c2557f"
          strokeWidth={2}
          strokeDasharray="5 4"
          dot={{ r: 3, strokeDasharray: '' }}
          isAnimationActive={false}
        />
      </LineChart>
    </ResponsiveContainer>
  );
}
