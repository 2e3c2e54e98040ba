import { useCallback, useEffect, useState } from 'react';
import type { ReviewSessionDto } from '../../../protocol/review.ts';
import type { MeDto, SlideDto, UserDto } from '../../../protocol/index.ts';
import { createSession, inviteToSession, listSessions, listUsers } from '../api.ts';
import { CONFIDENCES, type Confidence } from './constants.ts';
import type { Room } from './useReviewRoom.ts';

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const time = (iso: string): string =>
  new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

interface Props {
  slide: SlideDto;
  me: MeDto;
  room: Room | null;
  onJoin: (sessionId: string) => void;
  onLeave: () => void;
  /** Why the last session ended (kicked, closed), shown until another is joined. */
  ended: string | null;
}

/** The Review tab: sessions of this slide outside a session; the room (people, opinions, chat) inside. */
export function ReviewPanel(p: Props) {
  return p.room ? <RoomPanel {...p} room={p.room} /> : <Sessions {...p} />;
}

function Sessions({ slide, me, onJoin, ended }: Props) {
  const [sessions, setSessions] = useState<ReviewSessionDto[] | null>(null);
  const [title, setTitle] = useState(`Second opinion: ${slide.name}`);
  const [error, setError] = useState<string | null>(null);
  const canHost = me.permissions.share;

  useEffect(() => {
    const ac = new AbortController();
    listSessions(ac.signal).then(
      (all) => setSessions(all.filter((s) => s.slideId === slide.id)),
      (e: unknown) => !ac.signal.aborted && setError(errorText(e)),
    );
    return () => ac.abort();
  }, [slide.id]);

  return (
    <div className="panel-body review-panel" data-testid="review-panel">
      {ended && (
        <p className="notice-box" role="alert" data-testid="session-ended">
          {ended}
        </p>
      )}
      {canHost && (
        <form
          className="stack"
          onSubmit={(e) => {
            e.preventDefault();
            setError(null);
            createSession(slide.id, title.trim() || 'Review').then(
              (s) => onJoin(s.id),
              (err: unknown) => setError(errorText(err)),
            );
          }}
        >
          <label className="field">
            <span>New review session</span>
            <input
              className="tinput"
              value={title}
              maxLength={200}
              onChange={(e) => setTitle(e.target.value)}
              data-testid="session-title"
            />
          </label>
          <button type="submit" className="btn primary small" data-testid="start-session">
            Start a session on this slide
          </button>
        </form>
      )}
      {error && <p className="small error-text">{error}</p>}
      <h4>Sessions on this slide</h4>
      {sessions === null ? (
        <p className="muted small">Loading…</p>
      ) : sessions.length === 0 ? (
        <p className="muted small">
          None yet{canHost ? '' : ': a pathologist at the slide’s site can invite you'}.
        </p>
      ) : (
        <ul className="session-list">
          {sessions.map((s) => (
            <li key={s.id} data-session-id={s.id}>
              <div>
                <strong>{s.title}</strong>
                <div className="muted small">
                  {s.hostName} · {new Date(s.createdAt).toLocaleDateString()} · {s.invited.length} invited
                </div>
              </div>
              {s.status === 'open' ? (
                <button type="button" className="btn small" onClick={() => onJoin(s.id)}>
                  Join
                </button>
              ) : (
                <span className="muted small">closed</span>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Invite({ room, me }: { room: Room; me: MeDto }) {
  const [users, setUsers] = useState<UserDto[]>([]);
  const [userId, setUserId] = useState('');
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const invited = new Set(room.session.session?.invited.map((i) => i.userId) ?? []);
  useEffect(() => {
    const ac = new AbortController();
    listUsers(ac.signal).then(
      (u) => setUsers(u.filter((x) => !x.disabled)),
      () => {},
    );
    return () => ac.abort();
  }, []);
  const candidates = users.filter((u) => u.id !== me.user.id && !invited.has(u.id));
  const link = `${window.location.origin}/view/${room.session.session?.slideId ?? ''}?session=${room.sessionId}`;
  return (
    <div className="stack invite">
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          const u = users.find((x) => x.id === userId);
          if (!u) return;
          inviteToSession(room.sessionId, u.id).then(
            (r) => {
              setUserId('');
              setResult({
                ok: true,
                text: r.share
                  ? `${u.displayName} (${u.siteName}) invited. A de-identified share was created for them${r.share.studyCode ? ` as ${r.share.studyCode}` : ''}: they see no name or label.`
                  : `${u.displayName} (${u.siteName}) invited; they can already see this slide.`,
              });
            },
            (err: unknown) => setResult({ ok: false, text: errorText(err) }),
          );
        }}
      >
        <select
          className="tselect"
          value={userId}
          onChange={(e) => setUserId(e.target.value)}
          aria-label="Person to invite"
          data-testid="invite-user"
        >
          <option value="">Invite a person…</option>
          {candidates.map((u) => (
            <option key={u.id} value={u.id}>
              {u.displayName} · {u.siteName}
              {u.siteId !== me.user.siteId ? ' (other site: de-identified)' : ''}
            </option>
          ))}
        </select>
        <button type="submit" className="btn small" disabled={!userId} data-testid="invite-button">
          Invite
        </button>
      </form>
      {result && (
        <p
          className={result.ok ? 'small ok-text' : 'small error-text'}
          role="status"
          data-testid="invite-result"
        >
          {result.text}
        </p>
      )}
      <label className="field">
        <span className="muted small">Invite link</span>
        <input
          className="tinput"
          readOnly
          value={link}
          data-testid="invite-link"
          onFocus={(e) => e.target.select()}
        />
      </label>
    </div>
  );
}

function RoomPanel({ room, me, onLeave }: Props & { room: Room }) {
  const s = room.session;
  const info = s.session;
  const [chat, setChat] = useState('');
  const [chatError, setChatError] = useState<string | null>(null);
  const send = useCallback(() => {
    const text = chat.trim();
    if (!text) return;
    void room.say(text).then((err) => {
      setChatError(err);
      if (!err) setChat('');
    });
  }, [chat, room]);

  return (
    <div className="panel-body review-panel in-session" data-testid="review-room">
      <div className="room-head">
        <div>
          <strong>{info?.title ?? 'Review session'}</strong>
          <div className="muted small">hosted by {info?.hostName ?? '…'}</div>
        </div>
        <button type="button" className="btn small" onClick={onLeave} data-testid="leave-session">
          Leave
        </button>
      </div>
      {room.isHost && <Invite room={room} me={me} />}
      <h4>People</h4>
      <ul className="presence" data-testid="presence">
        {s.participants.map((p) => {
          const self = p.userId === room.meId;
          const following = room.following === p.userId;
          return (
            <li key={p.userId} data-user-id={p.userId} data-online={p.online ? 'true' : 'false'}>
              <span className={`dot${p.online ? ' online' : ''}`} title={p.online ? 'online' : 'away'} />
              <svg width="10" height="10" aria-hidden="true" className="pcolor">
                <circle cx="5" cy="5" r="5" fill={p.color} />
              </svg>
              <span className="pname">
                {p.name}
                {self ? ' (you)' : ''} <span className="muted small">{p.siteName}</span>
              </span>
              {p.host && <span className="badge host">host</span>}
              {!self && p.online && (
                <button
                  type="button"
                  className={`btn small${following ? ' primary' : ''}`}
                  onClick={() => room.follow(following ? null : p.userId)}
                  title="Show what they see, until you move yourself"
                  data-testid="follow"
                >
                  {following ? 'Following' : 'Follow'}
                </button>
              )}
            </li>
          );
        })}
      </ul>
      {room.isHost && (
        <button type="button" className="btn small" onClick={room.summon} data-testid="summon">
          Bring everyone to my view
        </button>
      )}
      <h4>Second opinions</h4>
      <ul className="opinions" data-testid="opinions">
        {s.opinions.map((o) => (
          <li key={o.id} data-opinion-id={o.id}>
            <div>
              <strong className="diagnosis">{o.diagnosis}</strong>{' '}
              <span className={`badge conf-${o.confidence}`}>{o.confidence} confidence</span>
            </div>
            <div className="muted small">
              {o.userName} · {time(o.at)}
            </div>
            {o.text && <p className="opinion-text">{o.text}</p>}
          </li>
        ))}
        {s.opinions.length === 0 && <li className="muted small">None yet.</li>}
      </ul>
      {!room.isHost && <OpinionForm room={room} />}
      <h4>Chat</h4>
      <ul className="chat" data-testid="chat">
        {s.chat.map((m) => (
          <li key={m.id} className={m.userId === me.user.id ? 'mine' : ''}>
            <span className="muted small">
              {m.userName} · {time(m.at)}
            </span>
            <div>{m.text}</div>
          </li>
        ))}
      </ul>
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <input
          className="tinput"
          placeholder="Message"
          value={chat}
          maxLength={4000}
          onChange={(e) => setChat(e.target.value)}
          data-testid="chat-input"
        />
        <button type="submit" className="btn small">
          Send
        </button>
      </form>
      {chatError && <p className="small error-text">{chatError}</p>}
    </div>
  );
}

function OpinionForm({ room }: { room: Room }) {
  const [diagnosis, setDiagnosis] = useState('');
  const [confidence, setConfidence] = useState<Confidence>('moderate');
  const [text, setText] = useState('');
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  return (
    <form
      className="stack opinion-form"
      data-testid="opinion-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (!diagnosis.trim()) return;
        void room.opinion({ diagnosis: diagnosis.trim(), confidence, text }).then((err) => {
          setResult(err ? { ok: false, text: err } : { ok: true, text: 'Second opinion sent' });
          if (!err) {
            setDiagnosis('');
            setText('');
          }
        });
      }}
    >
      <label className="field">
        <span>Diagnosis</span>
        <input
          className="tinput"
          value={diagnosis}
          maxLength={500}
          required
          onChange={(e) => setDiagnosis(e.target.value)}
          data-testid="opinion-diagnosis"
        />
      </label>
      <fieldset className="confidence">
        <legend>Confidence</legend>
        {CONFIDENCES.map((c) => (
          <label key={c}>
            <input
              type="radio"
              name="confidence"
              checked={confidence === c}
              onChange={() => setConfidence(c)}
            />{' '}
            {c}
          </label>
        ))}
      </fieldset>
      <label className="field">
        <span>Comment</span>
        <textarea
          className="tinput"
          rows={3}
          value={text}
          maxLength={20000}
          onChange={(e) => setText(e.target.value)}
          data-testid="opinion-text"
        />
      </label>
      <button type="submit" className="btn primary small" data-testid="opinion-submit">
        Give second opinion
      </button>
      {result && <p className={result.ok ? 'small ok-text' : 'small error-text'}>{result.text}</p>}
    </form>
  );
}
