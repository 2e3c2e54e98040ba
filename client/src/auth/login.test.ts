import { describe, expect, it } from 'vitest';
import { ApiError, NetworkError } from '../api.ts';
import { loginErrorMessage, loginPath, safeNext, SETUP_COMMAND } from './login.ts';

describe('safeNext', () => {
  it('returns a path on this server', () => {
    expect(safeNext('?next=%2Fview%2Fabc%3Fx%3D1%26zoom%3D5')).toBe('/view/abc?x=1&zoom=5');
    expect(safeNext('?next=/')).toBe('/');
  });
  it('falls back to the library without a usable next', () => {
    expect(safeNext('')).toBe('/');
    expect(safeNext('?next=')).toBe('/');
    expect(safeNext('?next=view/abc')).toBe('/');
  });
  it('refuses anything that leaves the origin', () => {
    expect(safeNext('?next=//evil.example/x')).toBe('/');
    expect(safeNext('?next=/%5Cevil.example')).toBe('/');
    expect(safeNext('?next=https://evil.example/')).toBe('/');
    expect(safeNext('?next=javascript:alert(1)')).toBe('/');
    expect(safeNext('?next=/%0a//evil.example')).toBe('/');
  });
  it('never returns to the login page itself', () => {
    expect(safeNext('?next=%2Flogin%3Fnext%3D%252F')).toBe('/');
  });
});

describe('loginPath', () => {
  it('remembers where the user was', () => {
    expect(loginPath('/view/abc?x=1&zoom=5')).toBe('/login?next=%2Fview%2Fabc%3Fx%3D1%26zoom%3D5');
    expect(safeNext(new URL(loginPath('/view/abc?x=1'), 'http://h').search)).toBe('/view/abc?x=1');
  });
  it('needs no note for the library or the login page', () => {
    expect(loginPath('/')).toBe('/login');
    expect(loginPath('/login?next=%2Fview%2Fa')).toBe('/login');
  });
});

describe('loginErrorMessage', () => {
  it('tells wrong credentials, rate limiting and a down server apart', () => {
    expect(loginErrorMessage(new ApiError(401, 'UNAUTHENTICATED', 'wrong user name or password'))).toBe(
      'Wrong user name or password.',
    );
    expect(loginErrorMessage(new ApiError(429, 'RATE_LIMITED', 'slow down'))).toMatch(
      /Too many sign-in attempts/,
    );
    expect(loginErrorMessage(new NetworkError())).toMatch(/Cannot reach the Tessera server/);
  });
  it('passes other server messages through', () => {
    expect(loginErrorMessage(new ApiError(409, 'CONFLICT', 'odd'))).toBe('Sign-in failed: odd');
  });
});

describe('SETUP_COMMAND', () => {
  it('is the CLI call that makes the first administrator', () => {
    expect(SETUP_COMMAND).toBe('npx tessera user add --name NAME --role admin --site SITE --password-stdin');
  });
});
